"""Verifier: offline licence status: signed status lists EL-SL1, checked against a trust list's
root.

A hall holding a trust list and the issuing department's three status lists (revocation,
suspension, supersession) answers ``revoked``, ``suspended`` or ``superseded`` with no network
and no database: :func:`verify_status_list` checks each list, :class:`OfflineStatus` holds them,
and ``verify_seal(..., status=OfflineStatus(...))`` reads the seal's bit (steps 9 and 10 of
:mod:`elicence.verifier.seal`). Format: docs/formats.md §8.

Invariant: a :class:`StatusList` value exists only after its signature, its signer's chain to
the trust list's root and EKU, and its payload were all checked; whether it is stale is judged
when a seal is verified, not here.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography import x509

from elicence.domain.codes import check_uscc
from elicence.errors import InputError, StatusListError
from elicence.formats.cose import (
    ALG_SM2_SM3,
    document_alg,
    document_kid,
    verify_service_document,
    verify_sm2_document,
)
from elicence.formats.statuslist import (
    FORMAT,
    MAX_BITS,
    MAX_SEQUENCE,
    MIN_BITS,
    S_BITS,
    S_DEPARTMENT,
    S_FORMAT,
    S_ISSUED,
    S_PURPOSE,
    S_SEQUENCE,
    S_SIZE,
    S_VALID_UNTIL,
    Purpose,
    bit_set,
    set_indices,
)
from elicence.formats.trustlist import TrustList


@dataclass(frozen=True, slots=True)
class StatusList:
    """A verified status list of one department and purpose."""

    department: str
    purpose: Purpose
    issued_at: dt.datetime
    valid_until: dt.datetime
    size: int  # bits
    compressed_size: int  # bytes of zlib data in the signed list
    bits: bytes = field(repr=False)  # the uncompressed bitstring (bit 0 = MSB of byte 0)
    signed: bytes = field(repr=False)  # the COSE_Sign1 it was read from
    root: x509.Certificate = field(repr=False)  # the root it was checked against
    sequence: int = 0  # key 8: grows whenever the list's content changes (0: none stated)

    def covers(self, index: int) -> bool:
        return 0 <= index < self.size

    def is_set(self, index: int) -> bool:
        """Whether licence ``index`` has this list's status (False outside the list)."""
        return self.covers(index) and bit_set(self.bits, index)

    def stale(self, now: dt.datetime) -> bool:
        return now > self.valid_until

    def set_indices(self) -> list[int]:
        return set_indices(self.bits)


def _time(value: object, what: str) -> dt.datetime:
    if type(value) is not int:
        raise StatusListError(f"the status list's {what} must be an integer time")
    return dt.datetime.fromtimestamp(value, dt.UTC)


def verify_status_list(signed: bytes, trust_list: TrustList) -> StatusList:
    """Check a signed status list against ``trust_list``'s root and return its content.

    Steps:
    1. the bytes are a tagged COSE_Sign1 with ES256 and an x5chain certificate;
    2. that certificate is issued by the trust list's root and carries the trust-list EKU (the
       service key: a department's ES256 key cannot sign a status list);
    3. it was valid when the list was issued;
    4. the signature verifies under it;
    1.-4. for a list signed SM2 with SM3 (a department with an SM2 licence type, ADR 0016): its
       kid names an SM2 key of the trust list, of the list's department, that chains to the
       root, was valid when the list was issued and not withdrawn then (never revoked), and the
       signature verifies under it;
    5. the payload is a well-formed EL-SL1 list: a USCC, a known purpose, valid until after
       issued at, a size that is a multiple of 131,072 bits up to 2**27, and zlib data that
       inflates to exactly size / 8 bytes; a sequence, if stated, an integer 1 to 2**63 - 1.
    Any failure raises :class:`StatusListError`.
    """
    root = trust_list.root
    # 1.-4.
    if document_alg(signed) == ALG_SM2_SM3:
        body = _signed_by_department_sm2_key(signed, trust_list)
    else:
        body = verify_service_document(
            signed,
            root=root,
            signed_at=lambda b: _time(b.get(S_ISSUED), "issued at"),
            error=StatusListError,
            what="status list",
        )
    # 5.
    if body.get(S_FORMAT) != FORMAT:
        raise StatusListError(f"the status list's format is not {FORMAT}")
    department, purpose, size = body.get(S_DEPARTMENT), body.get(S_PURPOSE), body.get(S_SIZE)
    if not isinstance(department, str):
        raise StatusListError("the status list names no department")
    try:
        canonical = check_uscc(department, field="department")
    except InputError as e:
        raise StatusListError(f"the status list's department is not a USCC: {e.message}") from e
    if canonical != department:
        raise StatusListError("the status list's department must be written in upper case")
    try:
        parsed = Purpose(purpose) if isinstance(purpose, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise StatusListError(f"the status list's purpose {purpose!r} is not known")
    issued_at = _time(body.get(S_ISSUED), "issued at")
    valid_until = _time(body.get(S_VALID_UNTIL), "valid until")
    if valid_until <= issued_at:
        raise StatusListError("the status list is valid until before it was issued")
    if type(size) is not int or size % MIN_BITS or not MIN_BITS <= size <= MAX_BITS:
        raise StatusListError(
            f"the status list's size must be a multiple of {MIN_BITS} bits up to {MAX_BITS}"
        )
    compressed = body.get(S_BITS)
    if not isinstance(compressed, bytes):
        raise StatusListError("the status list's bitstring must be a byte string")
    sequence = body.get(S_SEQUENCE, 0)
    if type(sequence) is not int or not (1 <= sequence <= MAX_SEQUENCE or S_SEQUENCE not in body):
        raise StatusListError(f"the status list's sequence must be an integer 1 to {MAX_SEQUENCE}")
    bits = _inflate(compressed, size // 8)
    return StatusList(
        department=department,
        purpose=parsed,
        issued_at=issued_at,
        valid_until=valid_until,
        size=size,
        compressed_size=len(compressed),
        bits=bits,
        signed=signed,
        root=root,
        sequence=sequence,
    )


def _signed_by_department_sm2_key(signed: bytes, trust_list: TrustList) -> Mapping[object, object]:
    """Steps 1-4 of :func:`verify_status_list` for a list signed by a department's SM2 key."""
    kid = document_kid(signed)
    entry = trust_list.entry(kid) if kid is not None else None
    if entry is None or entry.sm2_public_key is None:
        raise StatusListError("the status list's signer is not an SM2 key of the trust list")
    _kid, body = verify_sm2_document(
        signed, sm2_public_key=entry.sm2_public_key, error=StatusListError, what="status list"
    )
    issued_at = _time(body.get(S_ISSUED), "issued at")
    if not entry.chains_to_root:
        raise StatusListError("the status list's signer is not certified by the root")
    if not entry.not_before <= issued_at <= entry.not_after:
        raise StatusListError("the status list's signer was not valid when the list was issued")
    if entry.status == "revoked" or (entry.status != "active" and issued_at >= entry.status_since):
        raise StatusListError(f"the status list's signer was {entry.status} when it was issued")
    if body.get(S_DEPARTMENT) != entry.department:
        raise StatusListError("the status list is signed by another department's key")
    return body


def _inflate(data: bytes, length: int) -> bytes:
    try:
        inflater = zlib.decompressobj()
        bits = inflater.decompress(data, length + 1)  # never more than one byte too many
        complete = inflater.eof and not inflater.unconsumed_tail and not inflater.unused_data
    except zlib.error as e:
        raise StatusListError("the status list's bitstring is not valid zlib data") from e
    if not complete or len(bits) != length:
        raise StatusListError(f"the status list's bitstring does not inflate to {length} bytes")
    return bits


@dataclass(frozen=True, slots=True, init=False)
class OfflineStatus:
    """Verified status lists, by (department, purpose): the newest of each (highest sequence,
    then latest issued) is kept."""

    lists: Mapping[tuple[str, Purpose], StatusList]

    def __init__(self, lists: Iterable[StatusList]) -> None:
        newest: dict[tuple[str, Purpose], StatusList] = {}
        for sl in lists:
            key = (sl.department, sl.purpose)
            held = newest.get(key)
            if held is None or (sl.sequence, sl.issued_at) > (held.sequence, held.issued_at):
                newest[key] = sl
        object.__setattr__(self, "lists", MappingProxyType(newest))

    def get(self, department: str, purpose: Purpose) -> StatusList | None:
        return self.lists.get((department, purpose))
