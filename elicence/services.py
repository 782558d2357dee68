"""The composition root: registry, key store, catalogue, issuer and verifier wired together.

The API and the CLI each hold one :class:`Elicence` and call its methods, one use case each.
Invariants: the catalogue and trust list in memory follow the registry and key store (re-read
when they change); every verification through :meth:`Elicence.verify` leaves a usage record.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from elicence.catalogue import Catalogue, check_seal_keys_stable
from elicence.clients import Client, Role, hash_api_key, new_api_key, new_client_id
from elicence.codes import check_uscc, parse_identifier
from elicence.errors import (
    AuthenticationError,
    CatalogueError,
    InputError,
    KeyCustodyError,
    LogIntegrityError,
    NotFoundError,
    PermissionDeniedError,
)
from elicence.eventlog import GENESIS as GENESIS_HASH
from elicence.eventlog import (
    Checkpoint,
    LogEvent,
    check_chain,
    sign_checkpoint,
    verify_checkpoint,
)
from elicence.issuer import BatchItemResult, IssuanceResult, IssuanceService
from elicence.issuer.lifecycle import Action, Change, LifecycleService, replay
from elicence.keys.signer import SoftwareSigner
from elicence.keys.store import DepartmentName, KeyEntry, KeyRole, KeyStore
from elicence.keys.trustlist import TrustEntry, TrustList, sign_trust_list, verify_trust_list
from elicence.licence import Licence
from elicence.registry import Registry
from elicence.registry.store import ClientRecord
from elicence.statuslist import PURPOSE_OF_STATUS, Purpose, list_size, sign_status_list
from elicence.templates.documents import LicenceDocuments
from elicence.templates.pdf import DEFAULT_FONT_PATH
from elicence.templates.qr import verification_url
from elicence.verifier import Verdict, VerificationReport, verify_seal
from elicence.verifier.pdf import verify_pdf
from elicence.verifier.report import Check
from elicence.verifier.status import StatusList, verify_status_list


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class NewClient:
    client: ClientRecord
    api_key: str  # shown once


class Elicence:
    """One instance per process."""

    CATALOGUE_RECHECK_SECONDS = 5.0
    CLIENT_CACHE_SECONDS = 30.0
    CHECKPOINT_INTERVAL = dt.timedelta(seconds=60)
    MAX_FEED_LIMIT = 1000

    def __init__(
        self,
        *,
        registry: Registry,
        keystore: KeyStore,
        passphrase: str,
        public_base_url: str,
        trust_list_validity: dt.timedelta = dt.timedelta(hours=24),
        status_list_validity: dt.timedelta = dt.timedelta(hours=24),
        clock: Callable[[], dt.datetime] = utcnow,
        font_path: Path = DEFAULT_FONT_PATH,
        tsa_url: str | None = None,
    ) -> None:
        self.registry = registry
        self.keystore = keystore
        self.public_base_url = public_base_url.rstrip("/")
        self.clock = clock
        self._passphrase = passphrase
        self._trust_list_validity = trust_list_validity
        self._status_list_validity = status_list_validity
        # (department, purpose) -> (log size when built, the signed and verified list)
        self._status_lists: dict[tuple[str, Purpose], tuple[int, StatusList]] = {}
        self._lock = threading.Lock()
        self._catalogue: tuple[int, Catalogue] | None = None
        self._catalogue_checked = 0.0
        self._signers: dict[str, SoftwareSigner] = {}
        self._keys_version: float | None = None
        self._trust_list: tuple[TrustList, int] | None = None
        self._client_cache: dict[str, tuple[float, Client | None]] = {}
        self.documents = LicenceDocuments(font_path=font_path, tsa_url=tsa_url)
        self.issuer = IssuanceService(
            store=registry,
            catalogue=self.catalogue,
            signers=self._signers,
            clock=clock,
            printable=self.documents.renderer.check_printable,
        )
        self.lifecycle = LifecycleService(
            store=registry, catalogue=self.catalogue, signers=self._signers, clock=clock
        )
        self._service_signer: SoftwareSigner | None = None
        self._last_checkpoint_at: dt.datetime | None = None
        self._mirror_checked: tuple[float, TrustList | None] = (-1e9, None)

    # -- catalogue --------------------------------------------------------------------------

    def catalogue(self) -> Catalogue:
        """The catalogue in force (re-read at most every few seconds when it changed)."""
        now = time.monotonic()
        current = self._catalogue
        if current is None or now - self._catalogue_checked > self.CATALOGUE_RECHECK_SECONDS:
            with self._lock:
                version = self.registry.catalogue_version()
                if version is None:
                    raise CatalogueError(
                        "no catalogue has been imported: run `elicence catalogue import FILE`"
                    )
                if current is None or current[0] != version:
                    loaded = self.registry.catalogue()
                    assert loaded is not None
                    self._catalogue = current = loaded
                self._catalogue_checked = now
        return current[1]

    def import_catalogue(self, catalogue: Catalogue) -> tuple[int, list[KeyEntry]]:
        """Store a new catalogue; give every new department a signing key."""
        for previous in self.registry.catalogue_history():  # every seal ever issued counts
            check_seal_keys_stable(previous, catalogue)
        version = self.registry.save_catalogue(catalogue, now=self.clock())
        created = self.init_keys(catalogue)
        self._catalogue_checked = 0.0
        return version, created

    # -- keys and trust ---------------------------------------------------------------------

    def init_keys(self, catalogue: Catalogue | None = None) -> list[KeyEntry]:
        catalogue = catalogue or self.catalogue()
        return self.keystore.init(
            passphrase=self._passphrase,
            departments=[DepartmentName(d.uscc, d.name_zh) for d in catalogue.departments.values()],
            now=self.clock(),
            crl_url=self.crl_url,
        )

    def rotate_key(self, department: str) -> tuple[KeyEntry | None, KeyEntry]:
        check_uscc(department, field="department")
        return self.keystore.rotate(
            department, passphrase=self._passphrase, now=self.clock(), crl_url=self.crl_url
        )

    def compromise_key(
        self, department: str, *, since: dt.datetime, kid: str | None = None
    ) -> tuple[KeyEntry, KeyEntry | None]:
        """A department key was compromised at ``since``: seals it made from then on become
        untrusted (the trust list carries status revoked with that time)."""
        check_uscc(department, field="department")
        return self.keystore.compromise(
            department,
            since=since,
            kid=kid,
            passphrase=self._passphrase,
            now=self.clock(),
            crl_url=self.crl_url,
        )

    @property
    def crl_url(self) -> str:
        return f"{self.public_base_url}/api/v1/crl"

    def _refresh_keys(self) -> None:
        """Load signers again when the key store's manifest changed."""
        manifest = self.keystore.directory / "manifest.json"
        try:
            version = manifest.stat().st_mtime
        except OSError:
            version = None
        if version == self._keys_version:
            return
        with self._lock:
            if version == self._keys_version:  # another thread loaded them meanwhile
                return
            signers = self.keystore.department_signers(self._passphrase)
            # in place, never empty: the issuer holds this dict and may be sealing right now
            self._signers.update(signers)
            for gone in set(self._signers) - set(signers):
                del self._signers[gone]
            self._keys_version = version
            self._trust_list = None

    def signers(self) -> Mapping[str, SoftwareSigner]:
        self._refresh_keys()
        return self._signers

    def trust_list(self) -> TrustList:
        """The signed trust list, re-signed when keys or catalogue change, or at half-life.

        A mirror answers with the trust list it pulled from its upstream instead."""
        mirrored = self._mirrored_trust_list()
        if mirrored is not None:
            return mirrored
        self._refresh_keys()
        now = self.clock()
        catalogue = self.catalogue()
        assert self._catalogue is not None
        catalogue_version = self._catalogue[0]
        cached = self._trust_list
        if (
            cached is not None
            and cached[1] == catalogue_version
            and now < cached[0].issued_at + self._trust_list_validity / 2
        ):
            return cached[0]
        entries = []
        for e in self.keystore.entries():
            if e.role is not KeyRole.DEPARTMENT or e.department is None:
                continue
            dept = catalogue.departments.get(e.department)
            entries.append(
                TrustEntry(
                    kid=bytes.fromhex(e.kid),
                    department=e.department,
                    name=dept.name_zh if dept else e.name,
                    certificate=self.keystore.certificate(e),
                    status=str(e.status),
                    status_since=e.status_since,
                    licence_types=dept.licence_types if dept else (),
                )
            )
        root = self.keystore.root_certificate()
        signed = sign_trust_list(
            signer=self.keystore.service_signer(self._passphrase),
            root=root,
            entries=entries,
            issued_at=now.replace(microsecond=0),
            next_update=(now + self._trust_list_validity).replace(microsecond=0),
        )
        trust_list = verify_trust_list(signed, root=root)
        self._trust_list = (trust_list, catalogue_version)
        return trust_list

    # -- status lists -------------------------------------------------------------------------

    def status_list(self, department: str, purpose: str) -> StatusList:
        """The signed status list of a department and purpose (formats.md §8).

        Built from the registry on request and kept until the log grows or half its validity
        has passed; every list of the department is built from one query.
        """
        dept = check_uscc(department, field="department")
        if dept not in self.catalogue().departments:
            raise NotFoundError(f"no department {dept} in the catalogue", field="department")
        try:
            wanted = Purpose(purpose)
        except ValueError:
            raise NotFoundError(
                f"no status list {purpose!r}: revocation, suspension or supersession",
                field="purpose",
            ) from None
        now = self.clock()
        size, _head = self.registry.log_head()
        cached = self._status_lists.get((dept, wanted))
        if (
            cached is not None
            and cached[0] == size
            and now < cached[1].issued_at + self._status_list_validity / 2
        ):
            return cached[1]
        built = self._build_status_lists(dept, log_size=size, now=now)
        return built[wanted]

    def status_lists(self) -> list[StatusList]:
        """Every department's three status lists (for export to offline halls)."""
        return [
            self.status_list(dept, str(purpose))
            for dept in sorted(self.catalogue().departments)
            for purpose in Purpose
        ]

    def _build_status_lists(
        self, department: str, *, log_size: int, now: dt.datetime
    ) -> dict[Purpose, StatusList]:
        if self.registry.mirror() is not None:
            raise NotFoundError(
                "a mirror does not sign status lists: fetch them from its upstream",
                field="department",
            )
        handed_out, entries = self.registry.status_entries(department)
        size = list_size(handed_out)
        indices: dict[Purpose, list[int]] = {p: [] for p in Purpose}
        for index, status in entries:
            purpose = PURPOSE_OF_STATUS.get(status)
            if purpose is not None:
                indices[purpose].append(index)
        issued_at = now.replace(microsecond=0)
        trust_list = self.trust_list()
        built = {}
        for purpose in Purpose:
            signed = sign_status_list(
                signer=self._checkpoint_signer(),
                department=department,
                purpose=purpose,
                issued_at=issued_at,
                valid_until=issued_at + self._status_list_validity,
                size=size,
                indices=indices[purpose],
            )
            built[purpose] = verify_status_list(signed, trust_list)  # checked on the way out
            self._status_lists[(department, purpose)] = (log_size, built[purpose])
        return built

    # -- issuance ---------------------------------------------------------------------------

    def issue(self, client: Client, raw: Mapping[str, Any]) -> IssuanceResult:
        department = self._issuing_department(client)
        self._refresh_keys()
        result = self.issuer.issue(raw, department=department, actor=client.id)
        self.checkpoint(min_interval=self.CHECKPOINT_INTERVAL)
        return result

    def issue_batch(
        self, client: Client, items: Sequence[Mapping[str, Any]]
    ) -> list[BatchItemResult]:
        department = self._issuing_department(client)
        self._refresh_keys()
        results = self.issuer.issue_batch(items, department=department, actor=client.id)
        self.checkpoint()  # after every batch
        return results

    def _issuing_department(self, client: Client) -> str:
        if client.role is not Role.DEPARTMENT or client.department is None:
            raise PermissionDeniedError("only a department client may issue licences")
        return client.department

    def verification_url(self, seal: str) -> str:
        return verification_url(self.public_base_url, seal)

    # -- reading ----------------------------------------------------------------------------

    def licence_for(self, client: Client, identifier: str) -> Licence:
        parse_identifier(identifier)
        if client.role is Role.HALL:
            raise PermissionDeniedError("halls verify licences; they do not read the registry")
        lic = self.registry.licence(identifier)
        if lic is None or (
            client.role is Role.DEPARTMENT and lic.department_uscc != client.department
        ):
            raise NotFoundError(f"no licence {identifier} for this client", field="identifier")
        return lic

    def search(self, client: Client, **filters: Any) -> list[Licence]:
        if client.role is Role.HALL:
            raise PermissionDeniedError("halls verify licences; they do not search the registry")
        if client.role is Role.DEPARTMENT:
            asked = filters.get("department")
            if asked is not None and asked != client.department:
                return []  # another department's licences: none of them are this client's
            filters["department"] = client.department
        return self.registry.search(**filters)

    # -- verification -----------------------------------------------------------------------

    def verify(
        self, *, seal: str | None = None, identifier: str | None = None, client: Client | None
    ) -> VerificationReport:
        """Verify a seal (or the licence an identifier names) and record the use."""
        if (seal is None) == (identifier is None):
            raise InputError("give exactly one of seal and identifier", field="seal")
        now = self.clock()
        if seal is not None:
            report = verify_seal(seal, trust_list=self.trust_list(), status=self.registry, now=now)
            channel = "seal"
            ident = report.licence.identifier if report.licence else None
        else:
            assert identifier is not None
            ident = str(parse_identifier(identifier))
            record = self.registry.lookup(ident)
            channel = "identifier"
            if record is None:
                report = VerificationReport(
                    verdict=Verdict.NOT_FOUND,
                    checks=(
                        Check(
                            "registry_record",
                            False,
                            "the registry holds no such licence",
                            Verdict.NOT_FOUND,
                        ),
                    ),
                    checked_at=now,
                    status_checked=True,
                )
            else:
                report = verify_seal(
                    record.seal, trust_list=self.trust_list(), status=self.registry, now=now
                )
        self.registry.record_usage(
            at=now,
            client_id=client.id if client else None,
            identifier=ident,
            channel=channel,
            verdict=str(report.verdict),
        )
        return report

    # -- documents --------------------------------------------------------------------------

    def licence_pdf(self, client: Client, identifier: str) -> bytes:
        """The signed PDF of a licence: made and kept at the first request, then served kept."""
        lic = self.licence_for(client, identifier)
        kept = self.registry.document(lic.identifier)
        if kept is not None:
            return kept
        catalogue = self.catalogue()
        signer = self.signers().get(lic.department_uscc)
        if signer is None:
            raise KeyCustodyError(f"department {lic.department_uscc} has no active signing key")
        now = self.clock()
        pdf = self.documents.make(
            lic,
            licence_type=catalogue.licence_type(lic.type_code),
            department=catalogue.department(lic.department_uscc),
            signer=signer,
            root=self.keystore.root_certificate(),
            public_base_url=self.public_base_url,
            crl=self.keystore.current_crl(now),
            now=now,
        )
        return self.registry.keep_document(lic.identifier, pdf, now=now)

    def crl(self) -> bytes:
        """The root's CRL (DER) over the department certificates, as ``keys init`` signed it."""
        der = self.keystore.crl()
        if der is None:
            raise NotFoundError("no CRL has been made yet: run `elicence keys init`")
        return der

    def verify_pdf(self, data: bytes, *, client: Client | None) -> VerificationReport:
        """Verify a signed licence PDF (signature, signer, seal, registry) and record the use."""
        now = self.clock()
        report = verify_pdf(data, trust_list=self.trust_list(), status=self.registry, now=now)
        self.registry.record_usage(
            at=now,
            client_id=client.id if client else None,
            identifier=report.licence.identifier if report.licence else None,
            channel="pdf",
            verdict=str(report.verdict),
        )
        return report

    # -- clients ----------------------------------------------------------------------------

    def add_client(self, *, name: str, role: Role, department: str | None) -> NewClient:
        if role is Role.DEPARTMENT:
            if department is None:
                raise InputError(
                    "a department client needs its department USCC", field="department"
                )
            check_uscc(department, field="department")
            self.catalogue().department(department)
        elif department is not None:
            raise InputError(
                "only department clients are bound to a department", field="department"
            )
        if not name.strip():
            raise InputError("is required", field="name")
        key = new_api_key()
        record = self.registry.add_client(
            client_id=new_client_id(),
            name=name.strip(),
            role=str(role),
            department=department,
            key_hash=hash_api_key(key),
            now=self.clock(),
        )
        return NewClient(record, key)

    def authenticate(self, api_key: str) -> Client:
        """The client an API key belongs to (cached briefly)."""
        digest = hash_api_key(api_key)
        now = time.monotonic()
        hit = self._client_cache.get(digest)
        if hit is None or now - hit[0] > self.CLIENT_CACHE_SECONDS:
            record = self.registry.client_by_key_hash(digest)
            client = None
            if record is not None and record.disabled_at is None:
                client = Client(record.id, record.name, Role(record.role), record.department)
            if len(self._client_cache) > 10_000:
                self._client_cache.clear()
            self._client_cache[digest] = hit = (now, client)
        if hit[1] is None:
            raise AuthenticationError("the API key is not valid", field="Authorization")
        return hit[1]

    # -- lifecycle (issuer/lifecycle.py) ----------------------------------------------------

    def _acting_department(self, client: Client) -> str | None:
        """The department a client acts for, None for an admin; halls may not change licences."""
        if client.role is Role.ADMIN:
            return None
        if client.role is Role.DEPARTMENT and client.department is not None:
            return client.department
        raise PermissionDeniedError(
            "only the issuing department (or an admin) may change a licence"
        )

    def change_status(
        self, client: Client, identifier: str, action: Action, *, reason: str
    ) -> Change:
        """Revoke, suspend or reinstate one licence."""
        department = self._acting_department(client)
        change = self.lifecycle.change_status(
            identifier, action, reason=reason, department=department, actor=client.id
        )
        self.checkpoint(min_interval=self.CHECKPOINT_INTERVAL)
        return change

    def amend(
        self, client: Client, identifier: str, changes: Mapping[str, Any], *, reason: str
    ) -> Change:
        department = self._acting_department(client)
        self._refresh_keys()
        change = self.lifecycle.amend(
            identifier, changes, reason=reason, department=department, actor=client.id
        )
        self.checkpoint(min_interval=self.CHECKPOINT_INTERVAL)
        return change

    def renew(
        self, client: Client, identifier: str, *, reason: str, valid_from: dt.date | None = None
    ) -> Change:
        department = self._acting_department(client)
        self._refresh_keys()
        change = self.lifecycle.renew(
            identifier, reason=reason, department=department, actor=client.id, valid_from=valid_from
        )
        self.checkpoint(min_interval=self.CHECKPOINT_INTERVAL)
        return change

    def bulk_change(
        self,
        client: Client,
        action: Action,
        *,
        reason: str,
        identifiers: Sequence[str] | None = None,
        holder: tuple[str, str] | None = None,
    ) -> list[Change]:
        """Revoke, suspend or reinstate many licences in one transaction."""
        department = self._acting_department(client)
        changes = self.lifecycle.bulk(
            action,
            reason=reason,
            department=department,
            actor=client.id,
            identifiers=identifiers,
            holder=holder,
        )
        self.checkpoint()  # after every batch
        return changes

    # -- the event log, checkpoints and the change feed -------------------------------------

    def _checkpoint_signer(self) -> SoftwareSigner:
        if self._service_signer is None:
            self._service_signer = self.keystore.service_signer(self._passphrase)
        return self._service_signer

    def checkpoint(self, *, min_interval: dt.timedelta | None = None) -> Checkpoint | None:
        """Sign a checkpoint of the log if it grew since the last one.

        With ``min_interval``, at most one per interval from this process (the issuance hot
        path); the API also calls this every minute, so activity is checkpointed within one.
        A mirror signs nothing: it keeps its upstream's checkpoints.
        """
        now = self.clock()
        last = self._last_checkpoint_at
        if min_interval is not None and last is not None and now - last < min_interval:
            return None  # checked first: this is on the issuance hot path
        if self.registry.mirror() is not None:
            return self.registry.latest_checkpoint()
        size, head = self.registry.log_head()
        latest = self.registry.latest_checkpoint()
        if latest is not None and latest.size >= size:
            return latest
        cp = sign_checkpoint(
            signer=self._checkpoint_signer(), size=size, head_hash=head, issued_at=now
        )
        self.registry.add_checkpoint(cp)
        self._last_checkpoint_at = now
        return cp

    def feed(self, client: Client | None, *, after: int, limit: int) -> Feed:
        """Events after ``after`` in order, with the latest signed checkpoint (halls, admins)."""
        if client is None or client.role not in (Role.HALL, Role.ADMIN):
            raise PermissionDeniedError("the change feed is for halls and admins")
        if after < 0:
            raise InputError("must be 0 or a sequence number", field="after")
        if not 1 <= limit <= self.MAX_FEED_LIMIT:
            raise InputError(f"must be between 1 and {self.MAX_FEED_LIMIT}", field="limit")
        events = self.registry.events(after=after, limit=limit)
        checkpoint = self.checkpoint()
        size, _head = self.registry.log_head()
        return Feed(events, checkpoint, size)

    def log_root(self) -> x509.Certificate:
        """The root that checkpoints of this log chain to (a mirror's pinned root)."""
        mirror = self.registry.mirror()
        if mirror is not None:
            return x509.load_der_x509_certificate(mirror.root)
        return self.keystore.root_certificate()

    def audit(self) -> AuditReport:
        """Check the whole log: the hash chain, every checkpoint, and that the licences'
        statuses are what the events say."""
        problems: list[str] = []
        checkpoints = {cp.size: cp for cp in self.registry.checkpoints()}
        hashes: dict[int, str] = {0: GENESIS_HASH}
        seq, head = 0, GENESIS_HASH

        def checked() -> Iterator[LogEvent]:
            nonlocal seq, head
            for e in self.registry.iter_events():
                seq, head = check_chain([e], head_seq=seq, head_hash=head)
                if e.seq in checkpoints:
                    hashes[e.seq] = e.hash
                yield e

        try:
            state = replay(checked())
        except LogIntegrityError as e:
            problems.append(e.message)
            state = None
        root = self.log_root()
        for size, cp in sorted(checkpoints.items()):
            try:
                signed = verify_checkpoint(cp.signed, root=root)
            except LogIntegrityError as e:
                problems.append(f"checkpoint {size}: {e.message}")
                continue
            if (signed.size, signed.head_hash) != (cp.size, cp.head_hash):
                problems.append(f"checkpoint {size}: the stored copy differs from the signed one")
            elif state is not None and size > seq:
                problems.append(
                    f"checkpoint {size} was signed over {size} events but the log holds {seq}: "
                    "events were deleted"
                )
            elif state is not None and hashes.get(size) != signed.head_hash:
                problems.append(f"checkpoint {size}: the log's event {size} is not the signed one")
        if state is not None:
            listed = set()
            for ident, status, superseded_by in self.registry.licence_states():
                listed.add(ident)
                expected = state.get(ident)
                if expected is None:
                    problems.append(f"licence {ident} has no event in the log")
                elif (status, superseded_by) != expected:
                    problems.append(f"licence {ident} is {status} but the log says {expected[0]}")
            problems.extend(
                f"the log names licence {i}, which the registry does not hold"
                for i in sorted(set(state) - listed)
            )
        return AuditReport(
            events=seq, head_hash=head, checkpoints=len(checkpoints), problems=tuple(problems)
        )

    # -- mirrors ----------------------------------------------------------------------------

    def _mirrored_trust_list(self) -> TrustList | None:
        """A mirror's trust list (pulled from upstream, checked against the pinned root)."""
        checked_at, cached = self._mirror_checked
        if time.monotonic() - checked_at < self.CATALOGUE_RECHECK_SECONDS:
            return cached
        mirror = self.registry.mirror()
        found = None
        if mirror is not None and mirror.trust_list is not None:
            if cached is not None and cached.signed == mirror.trust_list:
                found = cached
            else:
                root = x509.load_der_x509_certificate(mirror.root)
                found = verify_trust_list(mirror.trust_list, root=root)
        self._mirror_checked = (time.monotonic(), found)
        return found


@dataclass(frozen=True, slots=True)
class Feed:
    """One page of the change feed."""

    events: list[LogEvent]
    checkpoint: Checkpoint | None
    size: int  # events in the log now


@dataclass(frozen=True, slots=True)
class AuditReport:
    events: int
    head_hash: str
    checkpoints: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems
