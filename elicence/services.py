"""The composition root: registry, key store, catalogue, issuer and verifier wired together.

The API and the CLI each hold one :class:`Elicence` and call its methods, one use case each.
Invariants: the catalogue and trust list in memory follow the registry and key store (re-read
when they change); every verification through :meth:`Elicence.verify` leaves a usage record.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elicence.catalogue import Catalogue, check_seal_keys_stable
from elicence.clients import Client, Role, hash_api_key, new_api_key, new_client_id
from elicence.codes import check_uscc, parse_identifier
from elicence.errors import (
    AuthenticationError,
    CatalogueError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from elicence.issuer import BatchItemResult, IssuanceResult, IssuanceService
from elicence.keys.signer import SoftwareSigner
from elicence.keys.store import DepartmentName, KeyEntry, KeyRole, KeyStore
from elicence.keys.trustlist import TrustEntry, TrustList, sign_trust_list, verify_trust_list
from elicence.licence import Licence
from elicence.registry import Registry
from elicence.registry.store import ClientRecord
from elicence.verifier import Verdict, VerificationReport, verify_seal
from elicence.verifier.report import Check


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

    def __init__(
        self,
        *,
        registry: Registry,
        keystore: KeyStore,
        passphrase: str,
        public_base_url: str,
        trust_list_validity: dt.timedelta = dt.timedelta(hours=24),
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.registry = registry
        self.keystore = keystore
        self.public_base_url = public_base_url.rstrip("/")
        self.clock = clock
        self._passphrase = passphrase
        self._trust_list_validity = trust_list_validity
        self._lock = threading.Lock()
        self._catalogue: tuple[int, Catalogue] | None = None
        self._catalogue_checked = 0.0
        self._signers: dict[str, SoftwareSigner] = {}
        self._keys_version: float | None = None
        self._trust_list: tuple[TrustList, int] | None = None
        self._client_cache: dict[str, tuple[float, Client | None]] = {}
        self.issuer = IssuanceService(
            store=registry, catalogue=self.catalogue, signers=self._signers, clock=clock
        )

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
        previous = self.registry.catalogue()
        if previous is not None:
            check_seal_keys_stable(previous[1], catalogue)
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
        """The signed trust list, re-signed when keys or catalogue change, or at half-life."""
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

    # -- issuance ---------------------------------------------------------------------------

    def issue(self, client: Client, raw: Mapping[str, Any]) -> IssuanceResult:
        department = self._issuing_department(client)
        self._refresh_keys()
        return self.issuer.issue(raw, department=department, actor=client.id)

    def issue_batch(
        self, client: Client, items: Sequence[Mapping[str, Any]]
    ) -> list[BatchItemResult]:
        department = self._issuing_department(client)
        self._refresh_keys()
        return self.issuer.issue_batch(items, department=department, actor=client.id)

    def _issuing_department(self, client: Client) -> str:
        if client.role is not Role.DEPARTMENT or client.department is None:
            raise PermissionDeniedError("only a department client may issue licences")
        return client.department

    def verification_url(self, seal: str) -> str:
        return f"{self.public_base_url}/v#{seal}"

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
