"""What the service signs for others to check: the trust list, the departments' status lists and
the checkpoints of the event log, all under the service key; and the root's CRL.

Invariants: every document is verified on the way out (a list this service could not verify is
never served); a trust list is re-signed when the keys or the catalogue change or at half its
validity, a status list when the log grew or at half its validity; a mirror signs nothing of its
own (it serves what it pulled from its upstream). Each list carries a sequence number kept in the
registry: re-signing the same content keeps it, new content takes the next, so no worker and no
restart ever publishes a lower number than one already published (formats.md §4.2, §8.2).

A ``revoked`` (compromised) key is published with ``status since`` = its certificate's notBefore:
every seal it made is untrusted (the service re-sealed the genuine ones, ADR 0011), also for a
verifier that still applies the earlier rule "untrusted from ``status since`` on".
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from cryptography import x509

from elicence.app.catalogue import CatalogueSource
from elicence.app.mirror import MirroredTrust
from elicence.domain.catalogue import Catalogue, Department, SignatureAlgorithm
from elicence.domain.codes import check_uscc
from elicence.errors import NotFoundError
from elicence.formats import statuslist, trustlist
from elicence.formats.eventlog import Checkpoint, sign_checkpoint
from elicence.formats.statuslist import PURPOSE_OF_STATUS, Purpose, list_size, sign_status_list
from elicence.formats.trustlist import TrustEntry, TrustList, sign_trust_list, verify_trust_list
from elicence.keys.keyring import Keyring
from elicence.keys.signer import signer_key
from elicence.keys.store import KeyRole, KeyStatus
from elicence.registry import Registry
from elicence.verifier.status import StatusList, verify_status_list

TRUST_LIST = "trust-list"  # the name of its sequence number in the registry


def status_list_name(department: str, purpose: Purpose) -> str:
    """The name of a status list's sequence number in the registry."""
    return f"status-list/{department}/{purpose}"


class Publisher:
    """Signs (and caches) the trust list, status lists and log checkpoints of this service."""

    def __init__(
        self,
        *,
        registry: Registry,
        keyring: Keyring,
        catalogue: CatalogueSource,
        mirror: MirroredTrust,
        clock: Callable[[], dt.datetime],
        trust_list_validity: dt.timedelta,
        status_list_validity: dt.timedelta,
    ) -> None:
        self._registry = registry
        self._keyring = keyring
        self._catalogue = catalogue
        self._mirror = mirror
        self._clock = clock
        self._trust_list_validity = trust_list_validity
        self._status_list_validity = status_list_validity
        # (keys version, catalogue version) the trust list was signed under, and the list
        self._trust_list: tuple[object, int, TrustList] | None = None
        # (department, purpose) -> (log size when built, the signed and verified list)
        self._status_lists: dict[tuple[str, Purpose], tuple[int, StatusList]] = {}
        self.observers: list[Callable[[StatusList], None]] = []  # told of each list signed
        self._last_checkpoint_at: dt.datetime | None = None
        self._lock = threading.Lock()

    # -- the trust list -----------------------------------------------------------------------

    def trust_list(self) -> TrustList:
        """The signed trust list, re-signed when keys or catalogue change, or at half-life.

        A mirror answers with the trust list it pulled from its upstream instead."""
        mirrored = self._mirror.trust_list()
        if mirrored is not None:
            return mirrored
        keys_version = self._keyring.version
        catalogue_version, catalogue = self._catalogue.current()
        now = self._clock()
        cached = self._trust_list
        if (
            cached is not None
            and cached[0] == keys_version
            and cached[1] == catalogue_version
            and now < cached[2].issued_at + self._trust_list_validity / 2
        ):
            return cached[2]
        entries = []
        for e in self._keyring.entries():
            if e.role is not KeyRole.DEPARTMENT or e.department is None:
                continue
            dept = catalogue.departments.get(e.department)
            certificate = self._keyring.certificate(e)
            since = e.status_since
            if e.status is KeyStatus.REVOKED:  # every seal it made is untrusted
                since = min(since, certificate.not_valid_before_utc)
            entries.append(
                TrustEntry(
                    kid=bytes.fromhex(e.kid),
                    department=e.department,
                    name=dept.name_zh if dept else e.name,
                    certificate=certificate,
                    status=str(e.status),
                    status_since=since,
                    licence_types=_types_for(catalogue, dept, e.algorithm),
                )
            )
        root = self._keyring.root_certificate()
        digest = trustlist.content_digest(root=root, entries=entries)
        sequence = self._registry.list_sequences({TRUST_LIST: digest}, now=now)[TRUST_LIST]
        signed = sign_trust_list(
            signer=self._keyring.service(),
            root=root,
            entries=entries,
            issued_at=now.replace(microsecond=0),
            next_update=(now + self._trust_list_validity).replace(microsecond=0),
            sequence=sequence,
        )
        trust_list = verify_trust_list(signed, root=root)
        self._trust_list = (keys_version, catalogue_version, trust_list)
        return trust_list

    def log_root(self) -> x509.Certificate:
        """The root that checkpoints of this log chain to (a mirror's pinned root)."""
        pinned = self._mirror.root()
        return pinned if pinned is not None else self._keyring.root_certificate()

    def crl(self) -> bytes:
        """The root's CRL (DER) over the department certificates, as ``keys init`` signed it."""
        der = self._keyring.crl()
        if der is None:
            raise NotFoundError("no CRL has been made yet: run `elicence keys init`")
        return der

    # -- status lists -------------------------------------------------------------------------

    def status_list(self, department: str, purpose: str) -> StatusList:
        """The signed status list of a department and purpose (formats.md §8).

        Built from the registry on request and kept until the log grows or half its validity
        has passed; every list of the department is built from one query.
        """
        dept = check_uscc(department, field="department")
        if dept not in self._catalogue().departments:
            raise NotFoundError(f"no department {dept} in the catalogue", field="department")
        try:
            wanted = Purpose(purpose)
        except ValueError:
            raise NotFoundError(
                f"no status list {purpose!r}: revocation, suspension or supersession",
                field="purpose",
            ) from None
        now = self._clock()
        size, _head = self._registry.log_head()
        cached = self._status_lists.get((dept, wanted))
        if (
            cached is not None
            and cached[0] == size
            and now < cached[1].issued_at + self._status_list_validity / 2
        ):
            return cached[1]
        return self._build_status_lists(dept, log_size=size, now=now)[wanted]

    def status_lists(self) -> list[StatusList]:
        """Every department's three status lists (for export to offline halls)."""
        return [
            self.status_list(dept, str(purpose))
            for dept in sorted(self._catalogue().departments)
            for purpose in Purpose
        ]

    def _build_status_lists(
        self, department: str, *, log_size: int, now: dt.datetime
    ) -> dict[Purpose, StatusList]:
        if self._mirror.is_mirror():
            raise NotFoundError(
                "a mirror does not sign status lists: fetch them from its upstream",
                field="department",
            )
        handed_out, entries = self._registry.status_entries(department)
        size = list_size(handed_out)
        indices: dict[Purpose, list[int]] = {p: [] for p in Purpose}
        for index, status in entries:
            purpose = PURPOSE_OF_STATUS.get(status)
            if purpose is not None:
                indices[purpose].append(index)
        issued_at = now.replace(microsecond=0)
        trust_list = self.trust_list()
        sequences = self._registry.list_sequences(
            {
                status_list_name(department, purpose): statuslist.content_digest(
                    department=department, purpose=purpose, size=size, indices=indices[purpose]
                )
                for purpose in Purpose
            },
            now=now,
        )
        built = {}
        # a department with an SM2 licence type signs its lists with its SM2 key (ADR 0016)
        sm2 = signer_key(department, SignatureAlgorithm.SM2)
        uses_sm2 = SignatureAlgorithm.SM2 in self._catalogue().algorithms(department)
        signer = self._keyring[sm2] if uses_sm2 and sm2 in self._keyring else None
        for purpose in Purpose:
            signed = sign_status_list(
                signer=signer or self._keyring.service(),
                department=department,
                purpose=purpose,
                issued_at=issued_at,
                valid_until=issued_at + self._status_list_validity,
                size=size,
                indices=indices[purpose],
                sequence=sequences[status_list_name(department, purpose)],
            )
            built[purpose] = verify_status_list(signed, trust_list)  # checked on the way out
            self._status_lists[(department, purpose)] = (log_size, built[purpose])
            for observe in self.observers:  # the operators' metrics (app/metrics.py)
                observe(built[purpose])
        return built

    # -- checkpoints --------------------------------------------------------------------------

    def checkpoint(self, *, min_interval: dt.timedelta | None = None) -> Checkpoint | None:
        """Sign a checkpoint of the log if it grew since the last one.

        With ``min_interval``, at most one per interval from this process (the issuance hot
        path); the API also calls this every minute, so activity is checkpointed within one.
        A mirror signs nothing: it keeps its upstream's checkpoints.
        """
        now = self._clock()
        last = self._last_checkpoint_at
        if min_interval is not None and last is not None and now - last < min_interval:
            return None  # checked first: this is on the issuance hot path
        if self._mirror.is_mirror():
            return self._registry.latest_checkpoint()
        size, head = self._registry.log_head()
        latest = self._registry.latest_checkpoint()
        if latest is not None and latest.size >= size:
            return latest
        cp = sign_checkpoint(
            signer=self._keyring.service(), size=size, head_hash=head, issued_at=now
        )
        self._registry.add_checkpoint(cp)
        self._last_checkpoint_at = now
        return cp


def _types_for(catalogue: Catalogue, dept: Department | None, algorithm: str) -> tuple[str, ...]:
    """The licence types a department key may seal, as its trust-list entry says: every type of
    the department for its ES256 key (seals made before a type moved to SM2 stay trusted); only
    the SM2 types for its SM2 key (ADR 0016)."""
    if dept is None:
        return ()
    if algorithm == SignatureAlgorithm.ES256:
        return dept.licence_types
    return tuple(c for c in dept.licence_types if catalogue.licence_types[c].algorithm == algorithm)
