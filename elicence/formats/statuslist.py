"""Status lists EL-SL1: one signed bitstring per issuing department and purpose.

W3C Bitstring Status List semantics: bit ``i`` is set if and only if the department's licence
with status index ``i`` (licence key 11 of its seal) has the list's status; bit 0 is the most
significant bit of byte 0. Wire form (docs/formats.md §8): a tagged COSE_Sign1 signed by the
service key (the trust-list envelope of :mod:`elicence.formats.cose`), payload
``{1: "EL-SL1", 2: department, 3: purpose, 4: issued at, 5: valid until, 6: size in bits,
7: zlib(bitstring), 8: sequence}``. Verification is
:func:`elicence.verifier.status.verify_status_list`.

Invariants: a list's size is a multiple of :data:`MIN_BITS` (so a multiple of 8 and at least
16 KB uncompressed, for herd privacy) covering every index the department has handed out; a
list built by :func:`sign_status_list` has no bit set at or beyond its size; a list's sequence
number (key 8) never goes down from one list of a department and purpose to the next.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zlib
from collections.abc import Iterable
from enum import StrEnum

from elicence.errors import InputError
from elicence.formats.cose import sign_service_document
from elicence.keys.signer import Signer

FORMAT = "EL-SL1"
# payload keys
S_FORMAT, S_DEPARTMENT, S_PURPOSE, S_ISSUED, S_VALID_UNTIL, S_SIZE, S_BITS = 1, 2, 3, 4, 5, 6, 7
S_SEQUENCE = 8
MAX_SEQUENCE = 2**63 - 1
MIN_BITS = 131_072  # 16 KB: the W3C minimum, so one licence hides among at least 131,072
MAX_BITS = 2**27  # 16 MiB uncompressed: a verifier refuses larger lists (inflation bombs)


class Purpose(StrEnum):
    """What a set bit means."""

    REVOCATION = "revocation"  # revoked (注销): final
    SUSPENSION = "suspension"  # suspended now (a reinstatement clears the bit)
    SUPERSESSION = "supersession"  # an old version, replaced by an amendment or a renewal

    @classmethod
    def parse(cls, value: str) -> Purpose:
        try:
            return cls(value)
        except ValueError:
            raise InputError(
                "must be revocation, suspension or supersession", field="purpose"
            ) from None


# the registry status each purpose lists
PURPOSE_OF_STATUS = {
    "revoked": Purpose.REVOCATION,
    "suspended": Purpose.SUSPENSION,
    "superseded": Purpose.SUPERSESSION,
}


def list_size(indices_handed_out: int) -> int:
    """The size in bits of a list covering ``indices_handed_out`` indices: whole 16 KB blocks."""
    blocks = max(1, -(-indices_handed_out // MIN_BITS))
    return blocks * MIN_BITS


def bitstring(indices: Iterable[int], size: int) -> bytes:
    """The uncompressed bitstring of ``size`` bits with ``indices`` set (bit 0 = MSB of byte 0)."""
    if size % 8:
        raise InputError("a bitstring's size must be a multiple of 8", field="size")
    bits = bytearray(size // 8)
    for i in indices:
        if not 0 <= i < size:
            raise InputError(f"index {i} is outside a list of {size} bits", field="index")
        bits[i >> 3] |= 0x80 >> (i & 7)
    return bytes(bits)


def bit_set(bits: bytes, index: int) -> bool:
    """Whether bit ``index`` of ``bits`` is set (bit 0 = MSB of byte 0)."""
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def set_indices(bits: bytes) -> list[int]:
    """Every index set in ``bits``, ascending."""
    found: list[int] = []
    for m in _NONZERO.finditer(bits):  # the regex engine skips the zero bytes at C speed
        n, byte = m.start(), bits[m.start()]
        found.extend(8 * n + k for k in range(8) if byte & (0x80 >> k))
    return found


_NONZERO = re.compile(rb"[^\x00]")


def compress(bits: bytes) -> bytes:
    """zlib (RFC 1950), level 9."""
    return zlib.compress(bits, 9)


def content_digest(*, department: str, purpose: Purpose, size: int, indices: Iterable[int]) -> str:
    """SHA-256 (hex) of what a status list states, its times and sequence aside: the same
    content keeps its sequence number when the list is re-signed."""
    head = f"{department}/{purpose}/{size}/".encode()
    return hashlib.sha256(head + bitstring(indices, size)).hexdigest()


def sign_status_list(
    *,
    signer: Signer,
    department: str,
    purpose: Purpose,
    issued_at: dt.datetime,
    valid_until: dt.datetime,
    size: int,
    indices: Iterable[int],
    sequence: int,
) -> bytes:
    """Build and sign a status list; returns the COSE_Sign1 bytes."""
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise InputError(f"must be 1 to {MAX_SEQUENCE}", field="sequence")
    if size % MIN_BITS or not MIN_BITS <= size <= MAX_BITS:
        raise InputError(
            f"a status list's size must be a multiple of {MIN_BITS} up to {MAX_BITS}", field="size"
        )
    if valid_until <= issued_at:
        raise InputError("must be after issued_at", field="valid_until")
    payload = {
        S_FORMAT: FORMAT,
        S_DEPARTMENT: department,
        S_PURPOSE: str(purpose),
        S_ISSUED: int(issued_at.timestamp()),
        S_VALID_UNTIL: int(valid_until.timestamp()),
        S_SIZE: size,
        S_BITS: compress(bitstring(indices, size)),
        S_SEQUENCE: sequence,
    }
    return sign_service_document(signer, payload)
