"""A hall's verifier with no network and no database: a pinned root certificate, a trust list
checked against it, and (optionally) the issuing departments' signed status lists.

Invariants: an :class:`OfflineVerifier` exists only with a trust list whose signature verified
against the pinned root; status lists that fail their check are refused and named, never used;
without status lists every report says ``status_checked=False`` (``valid`` then says nothing of
revocation); given the sequence numbers already seen (:class:`~.state.SeenSequences`), a trust
list older than one seen is refused and a status list older than one seen is refused and named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from elicence.errors import InputError, StatusListError
from elicence.formats.statuslist import Purpose
from elicence.formats.trustlist import TrustList, verify_trust_list
from elicence.verifier.report import VerificationReport
from elicence.verifier.seal import UnsafeSkipStatusCheck, _UnsafeSkipStatusCheck, verify_seal
from elicence.verifier.state import SeenSequences
from elicence.verifier.status import OfflineStatus, StatusList, verify_status_list


@dataclass(frozen=True, slots=True)
class OfflineVerifier:
    """Verify seals and signed PDFs offline."""

    trust_list: TrustList
    status: OfflineStatus | _UnsafeSkipStatusCheck = UnsafeSkipStatusCheck
    refused: tuple[str, ...] = field(default=())  # status list files refused, and why

    @classmethod
    def from_bytes(
        cls,
        *,
        trust_list: bytes,
        root_pem: bytes,
        status_lists: Iterable[tuple[str, bytes]] | None = None,
        seen: SeenSequences | None = None,
    ) -> OfflineVerifier:
        """From a signed trust list, the pinned root (PEM) and (name, bytes) of status lists;
        with ``seen``, lists older than ones already seen are refused."""
        try:
            root = x509.load_pem_x509_certificate(root_pem)
        except ValueError as e:
            raise InputError(f"is not a PEM certificate: {e}", field="root") from e
        tl = verify_trust_list(trust_list, root=root)
        if seen is not None:
            seen.check_trust_list(tl)
        if status_lists is None:
            return cls(tl)
        lists: list[StatusList] = []
        refused: list[str] = []
        for name, signed in status_lists:
            try:
                sl = verify_status_list(signed, tl)
            except StatusListError as e:
                refused.append(f"{name} is refused: {e.message}")
                continue
            problem = seen.status_list_problem(sl) if seen is not None else None
            if problem is not None:
                refused.append(f"{name} is refused: {problem}")
            else:
                lists.append(sl)
        return cls(tl, OfflineStatus(lists), tuple(refused))

    @classmethod
    def from_files(
        cls,
        *,
        trust_list: Path,
        root: Path,
        status_lists: Path | None = None,
        seen: SeenSequences | None = None,
    ) -> OfflineVerifier:
        """From files: ``status_lists`` is a directory of ``DEPT.PURPOSE.cose`` (as
        ``elicence keys export-status-lists`` writes them)."""
        try:
            signed, root_pem = trust_list.read_bytes(), root.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read the trust list or root: {e}", field="trust_list") from e
        if status_lists is None:
            return cls.from_bytes(trust_list=signed, root_pem=root_pem, seen=seen)
        if not status_lists.is_dir():
            raise InputError(f"{status_lists} is not a directory", field="status_lists")
        found: list[tuple[str, bytes]] = []
        unreadable: list[str] = []
        for purpose in Purpose:
            for path in sorted(status_lists.glob(f"*.{purpose}.cose")):
                try:
                    found.append((str(path), path.read_bytes()))
                except OSError as e:
                    unreadable.append(f"cannot read {path}: {e}")
        made = cls.from_bytes(trust_list=signed, root_pem=root_pem, status_lists=found, seen=seen)
        return cls(made.trust_list, made.status, (*unreadable, *made.refused))

    def remember(self, seen: SeenSequences) -> None:
        """Record in ``seen`` the sequence numbers of the lists this verifier uses."""
        held = list(self.status.lists.values()) if isinstance(self.status, OfflineStatus) else []
        seen.remember(self.trust_list, held)

    def verify(self, seal: str, *, now: dt.datetime) -> VerificationReport:
        """Verify a seal text or QR URL (:class:`~elicence.errors.SealError` if it is neither)."""
        return verify_seal(seal, trust_list=self.trust_list, status=self.status, now=now)

    def verify_pdf(self, data: bytes, *, now: dt.datetime) -> VerificationReport:
        """Verify a signed licence PDF (:class:`~elicence.errors.InputError` if unreadable)."""
        from elicence.verifier.pdf import verify_pdf  # pyHanko: loaded only for PDFs

        return verify_pdf(data, trust_list=self.trust_list, status=self.status, now=now)
