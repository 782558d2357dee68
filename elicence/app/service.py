"""The facade the API and the CLI call: one method per use case, each checking who may do it and
delegating to the part that does it.

Built only by :func:`elicence.bootstrap.assemble`. The parts: :class:`CatalogueSource` (the
catalogue in force), :class:`Keyring` (loaded signers), :class:`Access` (clients and roles),
:class:`Publisher` (trust and status lists, checkpoints), the issuer's
:class:`IssuanceService` and :class:`LifecycleService`, :class:`LicenceDocuments` (signed PDFs),
and the registry. Invariants: every verification through :meth:`Elicence.verify` or
:meth:`Elicence.verify_pdf` leaves a usage record; every change of the log is followed by a
checkpoint within ``CHECKPOINT_INTERVAL``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from elicence.app import access, audit, mirror
from elicence.app.access import Access, NewClient, Rotation
from elicence.app.backup import Backups
from elicence.app.catalogue import CatalogueSource
from elicence.app.console import Console
from elicence.app.guard import Guard
from elicence.app.hall import Hall
from elicence.app.holder import Holders
from elicence.app.publishing import Publisher
from elicence.app.reading import LicenceReading
from elicence.app.signin import SignIn
from elicence.app.stock import StockImport
from elicence.app.trail import Trail, TrailAction
from elicence.domain.catalogue import Catalogue
from elicence.domain.clients import Client, Role
from elicence.domain.codes import check_uscc, parse_identifier
from elicence.domain.licence import HolderRef, Licence
from elicence.errors import InputError, KeyCustodyError
from elicence.formats.eventlog import Checkpoint, LogEvent
from elicence.formats.trustlist import TrustList
from elicence.issuer import BatchItemResult, IssuanceResult, IssuanceService
from elicence.issuer.lifecycle import Action, Change, LifecycleService
from elicence.issuer.reseal import reseal_licences
from elicence.keys.entry import departments_of
from elicence.keys.keyring import Keyring
from elicence.keys.pki import CRL_VALIDITY
from elicence.keys.signer import Signer
from elicence.keys.store import KeyEntry, KeyStore
from elicence.registry import ClientRecord, Registry
from elicence.templates.documents import LicenceDocuments
from elicence.templates.qr import verification_url
from elicence.verifier import VerificationReport, verify_seal
from elicence.verifier.pdf import verify_pdf
from elicence.verifier.status import StatusList

__all__ = ["Elicence", "Feed", "NewClient", "utcnow"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Feed:
    """One page of the change feed."""

    events: list[LogEvent]
    checkpoint: Checkpoint | None
    size: int  # events in the log now


class Elicence:
    """One instance per process."""

    CHECKPOINT_INTERVAL = dt.timedelta(seconds=60)
    MAX_FEED_LIMIT = 1000

    def __init__(
        self,
        *,
        registry: Registry,
        keystore: KeyStore,
        keyring: Keyring,
        catalogue: CatalogueSource,
        access: Access,
        publisher: Publisher,
        issuer: IssuanceService,
        lifecycle: LifecycleService,
        documents: LicenceDocuments,
        public_base_url: str,
        clock: Callable[[], dt.datetime],
        guard: Guard,
        trail: Trail,
        hall: Hall,
        stock: StockImport,
        sign_in: SignIn,
    ) -> None:
        # Tests and operators' scripts may look at ``registry`` and ``keystore``; the API and the
        # CLI call methods only (tests/test_layers.py holds them to it).
        self.registry = registry
        self.keystore = keystore
        self.public_base_url = public_base_url.rstrip("/")
        self.clock = clock
        self.guard = guard  # rate limits (app/guard.py)
        self.trail = trail  # the audit trail of privileged actions (app/trail.py)
        self.backups = Backups(registry, keystore, trail, clock=clock)  # app/backup.py
        self._keyring = keyring
        self._catalogue = catalogue
        self._access = access
        self._publisher = publisher
        self._issuer = issuer
        self._lifecycle = lifecycle
        self.hall = hall  # the hall's case API (办件): its own facade (app/hall.py)
        self.stock = stock  # stock conversion: `elicence import` (app/stock.py)
        self._reading = LicenceReading(  # one licence, a search, a PDF (app/reading.py)
            registry=registry,
            catalogue=catalogue,
            keyring=keyring,
            documents=documents,
            public_base_url=self.public_base_url,
            clock=clock,
        )
        # the holder side (app/holder.py): reads licences as above, not through this facade
        self.holder = Holders(
            reading=self._reading,
            trust_list=publisher.trust_list,
            registry=registry,
            access=access,
            service_signer=keyring.service,
            sign_in=sign_in,
            clock=clock,
        )
        self.console = Console(catalogue=catalogue, documents=documents, clock=clock)  # 草稿

    @property
    def documents(self) -> LicenceDocuments:
        """What makes and signs the licences' PDFs (tests swap it: e.g. one with a TSA)."""
        return self._reading.documents

    @documents.setter
    def documents(self, documents: LicenceDocuments) -> None:
        self._reading.documents = documents

    def close(self) -> None:
        """Write what is queued (usage records) and close the database."""
        self.guard.close()
        self.registry.dispose()

    def flush(self) -> None:
        """Write what is queued (usage records) now."""
        self.registry.flush_usage()

    def health(self) -> dict[str, Any]:
        """``ok``, or ``degraded`` naming who cannot sign now (department USCCs, ``service``,
        ``root``): an active key that does not open, or a token signer that is down; never
        a file."""
        down = sorted(set(self.unusable_keys()) | set(self._keyring.unavailable()))
        body: dict[str, Any] = {
            "status": "degraded" if down else "ok",
            "catalogue_version": self._catalogue.version(),
        }
        if down:
            body["signers_unavailable"] = down
        return body

    def unusable_keys(self) -> list[str]:
        """Who has an active key that does not open (empty without a key store: a mirror)."""
        return self._keyring.unusable()

    # -- catalogue ------------------------------------------------------------------------------

    def catalogue(self) -> Catalogue:
        """The catalogue in force (re-read at most every few seconds when it changed)."""
        return self._catalogue()

    def catalogue_version(self) -> int | None:
        return self._catalogue.version()

    def import_catalogue(self, catalogue: Catalogue) -> tuple[int, list[KeyEntry]]:
        """Store a new catalogue; give every new department a signing key."""
        self._check_root_for(catalogue)  # before anything is stored
        with self.trail.action(TrailAction.CATALOGUE_IMPORT, client=None) as rec:
            version = self._catalogue.import_(catalogue)
            rec.update(
                version=version,
                licence_types=len(catalogue.licence_types),
                departments=len(catalogue.departments),
            )
        return version, self.init_keys(catalogue)

    # -- keys and trust -------------------------------------------------------------------------

    def _check_root_for(self, catalogue: Catalogue) -> None:
        """Refuse, before storing it, a catalogue whose new departments need the root when the
        root is offline and was not given to this command."""
        if self._keyring.root_available():
            return
        if self._keyring.lacks_keys(departments_of(catalogue)):
            raise KeyCustodyError(
                "new departments need keys certified by the root, which is offline: give "
                "`--root-dir DIR` (and ELICENCE_ROOT_PASSPHRASE) to this command",
                field="root_dir",
            )

    def init_keys(self, catalogue: Catalogue | None = None) -> list[KeyEntry]:
        with self.trail.action(TrailAction.KEYS_INIT, client=None) as rec:
            catalogue = catalogue or self.catalogue()
            created = self._keyring.init(
                departments_of(catalogue),
                now=self.clock(),
                crl_url=self.crl_url,
            )
            rec["created"] = [e.kid for e in created]
        return created

    def rotate_key(
        self, department: str, *, algorithm: str = "ES256"
    ) -> tuple[KeyEntry | None, KeyEntry]:
        with self.trail.action(TrailAction.KEYS_ROTATE, client=None, target=department) as rec:
            check_uscc(department, field="department")
            old, new = self._keyring.rotate(
                department, now=self.clock(), crl_url=self.crl_url, algorithm=algorithm
            )
            rec.update(retired=old.kid if old else None, active=new.kid)
        self.trust_list()  # numbered now, not first inside some worker's write transaction
        return old, new

    def resign_crl(self) -> dt.datetime:
        """Sign the root's CRL anew; returns its next update (a ceremony with the root offline)."""
        now = self.clock()
        with self.trail.action(TrailAction.KEYS_CRL, client=None):
            self._keyring.resign_crl(now=now)
        return now + CRL_VALIDITY

    def enrol_token_key(self, department: str | None) -> tuple[KeyEntry | None, KeyEntry]:
        """The key ceremony that moves ``department``'s signing key (None: the service key) to
        the configured PKCS#11 token; the key it replaces is retired, so what it signed stays
        valid."""
        with self.trail.action(
            TrailAction.KEYS_ENROL_TOKEN, client=None, target=department or "service"
        ) as rec:
            if department is not None:
                check_uscc(department, field="department")
            old, new = self._keyring.enrol_on_token(
                department, now=self.clock(), crl_url=self.crl_url
            )
            rec.update(retired=old.kid if old else None, active=new.kid)
        return old, new

    def compromise_key(
        self, department: str, *, since: dt.datetime, kid: str | None = None, actor: str = "cli"
    ) -> tuple[KeyEntry, KeyEntry | None, int]:
        """A department key was compromised at ``since``: it becomes untrusted for every seal,
        whatever its ``iat`` (the trust list lists it ``revoked``), and every licence it sealed
        is re-sealed under the department's active key (a new one if it was the active key),
        with a ``resealed`` event each (ADR 0011). Running it again for the same ``kid``
        finishes an interrupted re-sealing. Returns (revoked, new or None, licences re-sealed)."""
        with self.trail.action(
            TrailAction.KEYS_COMPROMISE, client=None, target=department, since=since, kid=kid
        ) as rec:
            check_uscc(department, field="department")
            revoked, new = self._keyring.compromise(
                department, since=since, kid=kid, now=self.clock(), crl_url=self.crl_url
            )
            rec.update(revoked=revoked.kid, active=new.kid if new else None)
            resealed = reseal_licences(
                self.registry,
                self._keyring,
                department=department,
                kid=revoked.kid,
                actor=actor,
                clock=self.clock,
                algorithm=revoked.algorithm,
            )
            rec.update(resealed=resealed)
        self.checkpoint()
        self.trust_list()  # numbered now, not first inside some worker's write transaction
        return revoked, new, resealed

    def certificates(self) -> list[tuple[KeyEntry, x509.Certificate]]:
        """Every certificate of the key store with its entry."""
        return [(e, self._keyring.certificate(e)) for e in self._keyring.entries()]

    def root_certificate(self) -> x509.Certificate:
        return self._keyring.root_certificate()

    @property
    def crl_url(self) -> str:
        return f"{self.public_base_url}/api/v1/crl"

    def crl(self) -> bytes:
        return self._publisher.crl()

    def signers(self) -> Mapping[str, Signer]:
        return self._keyring

    def trust_list(self) -> TrustList:
        return self._publisher.trust_list()

    def status_list(self, department: str, purpose: str) -> StatusList:
        return self._publisher.status_list(department, purpose)

    def status_lists(self) -> list[StatusList]:
        return self._publisher.status_lists()

    # -- issuance -------------------------------------------------------------------------------

    def issue(self, client: Client, raw: Mapping[str, Any]) -> IssuanceResult:
        department = access.issuing_department(client)
        result = self._issuer.issue(raw, department=department, actor=client.id)
        self.checkpoint(min_interval=self.CHECKPOINT_INTERVAL)
        return result

    def issue_batch(
        self, client: Client, items: Sequence[Mapping[str, Any]]
    ) -> list[BatchItemResult]:
        department = access.issuing_department(client)
        results = self._issuer.issue_batch(items, department=department, actor=client.id)
        self.checkpoint()  # after every batch
        return results

    def verification_url(self, seal: str) -> str:
        return verification_url(self.public_base_url, seal)

    # -- reading --------------------------------------------------------------------------------

    def licence_for(self, client: Client, identifier: str) -> Licence:
        return self._reading.licence_for(client, identifier)

    def search(self, client: Client, **filters: Any) -> list[Licence]:
        return self._reading.search(client, **filters)

    # -- verification ---------------------------------------------------------------------------

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
                report = VerificationReport.not_found(checked_at=now)
            else:
                report = verify_seal(
                    record.seal, trust_list=self.trust_list(), status=self.registry, now=now
                )
        self._record_use(report, ident, channel, client, now)
        return report

    def verify_pdf(self, data: bytes, *, client: Client | None) -> VerificationReport:
        """Verify a signed licence PDF (signature, signer, seal, registry) and record the use."""
        now = self.clock()
        report = verify_pdf(data, trust_list=self.trust_list(), status=self.registry, now=now)
        ident = report.licence.identifier if report.licence else None
        self._record_use(report, ident, "pdf", client, now)
        return report

    def _record_use(
        self,
        report: VerificationReport,
        identifier: str | None,
        channel: str,
        client: Client | None,
        now: dt.datetime,
    ) -> None:
        self.registry.record_usage(
            at=now,
            client_id=client.id if client else None,
            identifier=identifier,
            channel=channel,
            verdict=str(report.verdict),
        )

    # -- documents ------------------------------------------------------------------------------

    def licence_pdf(self, client: Client, identifier: str) -> bytes:
        """The signed PDF of a licence: made and kept at the first request, then served kept.

        An admin's download is a privileged action (the trail records it); an owner's is not."""
        if client.role is Role.ADMIN:
            with self.trail.action(TrailAction.LICENCE_PDF, client=client, target=identifier):
                return self._reading.pdf(client, identifier)
        return self._reading.pdf(client, identifier)

    # -- clients --------------------------------------------------------------------------------

    def add_client(
        self,
        *,
        name: str,
        role: Role,
        department: str | None,
        holder: HolderRef | None = None,
        expires_at: dt.datetime | None = None,
    ) -> NewClient:
        with self.trail.action(
            TrailAction.CLIENT_ADD,
            client=None,
            role=str(role),
            department=department,
            holder=str(holder) if holder else None,
            expires_at=expires_at,
        ) as rec:
            made = self._access.add_client(
                name=name, role=role, department=department, holder=holder, expires_at=expires_at
            )
            rec["client"] = made.client.id
        return made

    def rotate_client_key(
        self, client_id: str, *, overlap: dt.timedelta, expires_at: dt.datetime | None = None
    ) -> Rotation:
        """A new API key for a client (shown once); the old one works for ``overlap`` more."""
        with self.trail.action(
            TrailAction.CLIENT_ROTATE,
            client=None,
            target=client_id,
            overlap_seconds=overlap.total_seconds(),
            expires_at=expires_at,
        ) as rec:
            rotation = self._access.rotate_key(client_id, overlap=overlap, expires_at=expires_at)
            rec.update(old_keys=rotation.old_keys, retires_at=rotation.retires_at)
        return rotation

    def client_keys(self) -> dict[str, list[Any]]:
        """Every client's keys (hashes, expiry, end of overlap), newest first."""
        return dict(self._access.keys())

    def authenticate(self, api_key: str) -> Client:
        return self._access.authenticate(api_key)

    def clients(self) -> list[ClientRecord]:
        return self._access.clients()

    def disable_client(self, client_id: str) -> None:
        with self.trail.action(TrailAction.CLIENT_DISABLE, client=None, target=client_id):
            self._access.disable_client(client_id)

    # -- lifecycle ------------------------------------------------------------------------------

    def change_status(
        self, client: Client, identifier: str, action: Action, *, reason: str
    ) -> Change:
        """Revoke, suspend or reinstate one licence."""
        with self.trail.action(
            TrailAction(f"licence.{action}"), client=client, target=identifier, reason=reason
        ) as rec:
            change = self._lifecycle.change_status(
                identifier,
                action,
                reason=reason,
                department=access.acting_department(client),
                actor=client.id,
            )
            rec.update(_changed(change))
        self.checkpoint(min_interval=self.CHECKPOINT_INTERVAL)
        return change

    def amend(
        self, client: Client, identifier: str, changes: Mapping[str, Any], *, reason: str
    ) -> Change:
        with self.trail.action(
            TrailAction.LICENCE_AMEND,
            client=client,
            target=identifier,
            reason=reason,
            fields=sorted(changes),
        ) as rec:
            change = self._lifecycle.amend(
                identifier,
                changes,
                reason=reason,
                department=access.acting_department(client),
                actor=client.id,
            )
            rec.update(_changed(change))
        self.checkpoint(min_interval=self.CHECKPOINT_INTERVAL)
        return change

    def renew(
        self, client: Client, identifier: str, *, reason: str, valid_from: dt.date | None = None
    ) -> Change:
        with self.trail.action(
            TrailAction.LICENCE_RENEW, client=client, target=identifier, reason=reason
        ) as rec:
            change = self._lifecycle.renew(
                identifier,
                reason=reason,
                department=access.acting_department(client),
                actor=client.id,
                valid_from=valid_from,
            )
            rec.update(_changed(change))
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
        with self.trail.action(
            TrailAction.LICENCE_BULK,
            client=client,
            target=":".join(holder) if holder else None,
            action=str(action),
            reason=reason,
            asked=len(identifiers) if identifiers is not None else None,
        ) as rec:
            changes = self._lifecycle.bulk(
                action,
                reason=reason,
                department=access.acting_department(client),
                actor=client.id,
                identifiers=identifiers,
                holder=holder,
            )
            rec.update(changed=len(changes), identifiers=[c.licence.identifier for c in changes])
        self.checkpoint()  # after every batch
        return changes

    # -- the event log, checkpoints, the change feed and mirrors --------------------------------

    def checkpoint(self, *, min_interval: dt.timedelta | None = None) -> Checkpoint | None:
        return self._publisher.checkpoint(min_interval=min_interval)

    def feed(self, client: Client | None, *, after: int, limit: int) -> Feed:
        """Events after ``after`` in order, with the latest signed checkpoint (halls, admins)."""
        access.check_feed_reader(client)
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
        return self._publisher.log_root()

    def audit(self) -> audit.AuditReport:
        """Check the whole log: the hash chain, every checkpoint, and the licences' statuses."""
        return audit.audit(self.registry, root=self.log_root())

    def mirror_pull(
        self,
        upstream: mirror.Upstream,
        *,
        root: x509.Certificate | None,
        page_size: int = 500,
        max_pages: int | None = None,
    ) -> mirror.PullResult:
        """Bring this registry up to an upstream's head (this registry becomes its mirror).

        The first pull, which pins the upstream's root, is a privileged action (recorded)."""
        if self.registry.mirror() is None:
            with self.trail.action(
                TrailAction.MIRROR_SETUP, client=None, target=upstream.url
            ) as rec:
                result = self._mirror_pull(
                    upstream, root=root, page_size=page_size, max_pages=max_pages
                )
                rec.update(applied=result.applied, head=result.head)
            return result
        return self._mirror_pull(upstream, root=root, page_size=page_size, max_pages=max_pages)

    def _mirror_pull(
        self,
        upstream: mirror.Upstream,
        *,
        root: x509.Certificate | None,
        page_size: int,
        max_pages: int | None,
    ) -> mirror.PullResult:
        return mirror.pull(
            self.registry,
            upstream,
            root=root,
            clock=self.clock,
            page_size=page_size,
            max_pages=max_pages,
        )


def _changed(change: Change) -> dict[str, Any]:
    """What the trail keeps of a lifecycle change: where to find it in the event log."""
    out: dict[str, Any] = {
        "status": str(change.licence.status),
        "version": change.licence.version,
    }
    if change.new_version is not None:
        out["new_identifier"] = change.new_version.identifier
    return out
