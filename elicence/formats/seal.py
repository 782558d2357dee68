"""Wire format: the EL1 seal: a licence as a tagged COSE_Sign1 (RFC 9052) over CWT claims (RFC
8392).

Signed ES256, or SM2 with SM3 for a licence type whose catalogue entry says ``algorithm: SM2``:
COSE algorithm :data:`ALG_SM2_SM3` (private use), signature ``r || s`` (64 bytes), user id
``1234567812345678`` (ADR 0016).

Text form: ``EL1:`` + base32 (RFC 4648, upper case, no padding) of zlib(COSE_Sign1). The full
specification, with a worked example, is ``docs/formats.md``. Invariants: :func:`seal_licence` only
produces what :func:`decode_seal` reads back; :func:`decode_seal` checks structure, never trust.
"""

from __future__ import annotations

import datetime as dt
import functools
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeGuard

import cbor2
import gmpy2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.domain.licence import CHINA_TZ
from elicence.errors import SealError
from elicence.keys import sm2
from elicence.keys.signer import ECDSA_SHA256, ES256, SM2, Signer, raw_to_der

PREFIX = "EL1:"
COSE_SIGN1_TAG = 18
ALG_ES256 = -7
# SM2 signature with SM3 (GB/T 32918.2, GM/T 0009's default user id): no COSE value is
# registered, so the first of the COSE Algorithms registry's private-use values (below -65536)
ALG_SM2_SM3 = -65537
ALG_OF = {ES256: ALG_ES256, SM2: ALG_SM2_SM3}  # a signer's algorithm -> its COSE alg
ALG_NAMES = {ALG_ES256: "ES256", ALG_SM2_SM3: "SM2-with-SM3"}
HEADER_ALG = 1
HEADER_KID = 4
CLAIM_ISS = 1
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_LICENCE = -65537  # private-use CWT claim (below -65536): the licence itself

# keys of the licence map inside CLAIM_LICENCE
K_IDENTIFIER, K_TYPE, K_NUMBER, K_HOLDER_NAME, K_HOLDER_ID, K_HOLDER_ID_TYPE = 1, 2, 3, 4, 5, 6
K_VALID_FROM, K_VALID_UNTIL, K_VERSION, K_DATA = 7, 8, 9, 10
K_STATUS_INDEX = 11  # optional (absent in seals made before status lists): the licence's bit

MAX_STATUS_INDEX = 2**31 - 1  # the registry's column is a 32-bit integer

MAX_SEAL_KEY = 23  # seal keys of data items: one-byte CBOR integers
MAX_SEAL_TEXT = 4096  # a QR code of version 40 holds 4,296 alphanumeric characters
MAX_COSE_BYTES = 8192


@dataclass(frozen=True, slots=True)
class SealedLicence:
    """What a seal says about its licence (the holder id masked for natural persons)."""

    identifier: str
    type_code: str
    licence_number: str
    holder_name: str
    holder_id: str
    holder_id_type: str
    valid_from: dt.date
    valid_until: dt.date | None
    version: int
    data: Mapping[int, str]  # seal key (from the catalogue) -> value
    # its bit in the issuing department's status lists (None: an older seal, online check only)
    status_index: int | None = None


@dataclass(frozen=True, slots=True)
class SealClaims:
    """The CWT claims of a seal."""

    issuer: str
    issued_at: int
    expires_at: int | None
    licence: SealedLicence


class DecodedSeal(NamedTuple):
    """A structurally sound seal whose signature has not yet been checked.

    A NamedTuple rather than a frozen dataclass, as a verification's ``Check``: every verification
    makes one, and the frozen dataclass's ``__init__`` cost 0.8 us against 0.2 (issue 20). It is
    as immutable.
    """

    text: str
    cose: bytes  # the COSE_Sign1 bytes (the same for every text that encodes this seal)
    protected: bytes
    kid: bytes
    alg: int
    payload: bytes
    signature: bytes
    claims: SealClaims

    def signed_message(self) -> bytes:
        """The COSE Sig_structure the signature covers."""
        return _sig_structure(self.protected, self.payload)

    def signature_valid(self, public_key: ec.EllipticCurvePublicKey | bytes | None) -> bool:
        """Whether the signature verifies under ``public_key``: a P-256 key for ES256, an SM2
        key (``x || y``, 64 bytes) for SM2-with-SM3; False for any other pairing."""
        if len(self.signature) != 64:
            return False
        if self.alg == ALG_SM2_SM3:
            return isinstance(public_key, bytes) and sm2.verify(
                public_key, self.signed_message(), self.signature
            )
        if self.alg != ALG_ES256 or not _is_ec_public_key(public_key):
            return False
        try:
            public_key.verify(raw_to_der(self.signature), self.signed_message(), ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True


_EC_PUBLIC_KEY_TYPES: set[type] = set()  # the classes found to be EllipticCurvePublicKey


def _is_ec_public_key(key: object) -> TypeGuard[ec.EllipticCurvePublicKey]:
    """``isinstance(key, ec.EllipticCurvePublicKey)``, the ABC's check (0.2 us on the shared
    machine, 2026-12-06) made once per class: a class registered with an ABC stays so."""
    if type(key) in _EC_PUBLIC_KEY_TYPES:
        return True
    if isinstance(key, ec.EllipticCurvePublicKey):
        _EC_PUBLIC_KEY_TYPES.add(type(key))
        return True
    return False


@functools.lru_cache(maxsize=4096)  # validity end dates repeat across licences
def expiry_instant(valid_until: dt.date | None) -> int | None:
    """The ``exp`` claim: the end of the last valid day, Beijing time (None: long-term)."""
    if valid_until is None:
        return None
    end = dt.datetime.combine(valid_until + dt.timedelta(days=1), dt.time(), CHINA_TZ)
    return int(end.timestamp())


def _bstr(data: bytes) -> bytes:
    """``data`` as a CBOR byte string (major type 2), in its shortest form."""
    n = len(data)
    if n < 24:
        head = bytes((0x40 | n,))
    elif n < 0x100:
        head = bytes((0x58, n))
    elif n < 0x10000:
        head = b"\x59" + n.to_bytes(2, "big")
    else:
        head = b"\x5a" + n.to_bytes(4, "big")
    return head + data


# CBOR of ["Signature1", ..., h'', ...]: array(4), text(10) "Signature1"; then bstr(0) h''
_SIG1_HEAD = b"\x84\x6aSignature1"
_EMPTY_BSTR = b"\x40"
# tag 18 + array(4); the unprotected header is the empty map
_COSE_HEAD = b"\xd2\x84"
_EMPTY_MAP = b"\xa0"
_SIGNATURE_HEAD = b"\x58\x40"  # bstr(64): an ES256 or SM2 signature, r || s


@functools.lru_cache(maxsize=256)  # one protected header per signing key
def _sig_head(protected: bytes) -> bytes:
    """The Sig_structure up to the payload's bstr."""
    return _SIG1_HEAD + _bstr(protected) + _EMPTY_BSTR


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The CBOR of the COSE Sig_structure, written out (the same bytes as cbor2 gives)."""
    return _sig_head(protected) + _bstr(payload)


@functools.lru_cache(maxsize=256)
def _protected_header(kid: bytes, alg: int = ALG_ES256) -> bytes:
    return bytes(cbor2.dumps({HEADER_ALG: alg, HEADER_KID: kid}))


@functools.lru_cache(maxsize=256)
def _heads(kid: bytes, alg: int) -> tuple[bytes, bytes]:
    """What comes before the payload's bstr in the Sig_structure and in the COSE_Sign1 of a seal
    by this key: they depend on the key alone, so they are written once per key."""
    protected = _protected_header(kid, alg)
    return _sig_head(protected), _COSE_HEAD + _bstr(protected) + _EMPTY_MAP


def encode_claims(claims: SealClaims) -> bytes:
    """The CBOR payload of a seal."""
    lic = claims.licence
    body: dict[int, Any] = {
        K_IDENTIFIER: lic.identifier,
        K_TYPE: lic.type_code,
        K_NUMBER: lic.licence_number,
        K_HOLDER_NAME: lic.holder_name,
        K_HOLDER_ID: lic.holder_id,
        K_HOLDER_ID_TYPE: lic.holder_id_type,
        K_VALID_FROM: lic.valid_from.isoformat(),
        K_VERSION: lic.version,
        K_DATA: dict(lic.data),
    }
    if lic.status_index is not None:
        body[K_STATUS_INDEX] = lic.status_index
    if lic.valid_until is not None:
        body[K_VALID_UNTIL] = lic.valid_until.isoformat()
    cwt: dict[int, Any] = {CLAIM_ISS: claims.issuer, CLAIM_IAT: claims.issued_at}
    if claims.expires_at is not None:
        cwt[CLAIM_EXP] = claims.expires_at
    cwt[CLAIM_LICENCE] = body
    return cbor2.dumps(cwt)


def seal_licence(claims: SealClaims, signer: Signer) -> str:
    """Sign ``claims`` with ``signer`` and return the seal text."""
    alg = ALG_OF.get(signer.algorithm)
    if alg is None:
        raise SealError(f"a seal cannot be signed with {signer.algorithm}")
    sig_head, cose_head = _heads(signer.kid, alg)
    payload = _bstr(encode_claims(claims))  # the same bytes in the Sig_structure and the COSE
    signature = signer.sign(sig_head + payload)
    signed = _SIGNATURE_HEAD + signature if len(signature) == 64 else _bstr(signature)
    # A 1 KiB window: the same output size for seals, at a third of the default's cost. Level 9
    # costs about one ECDSA signature here (2026-12-06) and pins the seal's bytes: left as is.
    return PREFIX + b32encode(zlib.compress(cose_head + payload + signed, 9, wbits=10))


# RFC 4648 base32 without padding, through gmpy2's and int()'s C base-32 conversions: the
# standard library's pure-Python b32encode/b32decode cost more than the ECDSA signature itself.
# Both convert between the two alphabets as bytes (bytes.translate, a 256-byte table): half the
# cost of str.translate's dict and of a regex scan (issue 20).
_B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_DIGITS32 = b"0123456789abcdefghijklmnopqrstuv"
_TO_B32 = bytes.maketrans(_DIGITS32, _B32)
# every byte outside the alphabet becomes "!", which int() refuses in any base: the alphabet is
# checked by the conversion itself (lower case, padding, spaces, "_", signs included)
_FROM_B32 = bytes(_DIGITS32[_B32.index(c)] if c in _B32 else ord("!") for c in range(256))


def b32encode(data: bytes) -> str:
    """RFC 4648 base32, upper case, no padding."""
    if not data:
        return ""
    bits = 8 * len(data)
    pad = -bits % 5
    number = int.from_bytes(data, "big") << pad
    digits: str = gmpy2.digits(number, 32).encode("ascii").translate(_TO_B32).decode("ascii")
    return digits.rjust((bits + pad) // 5, "A")  # "A" is the digit 0


def b32decode(text: str) -> bytes:
    """Inverse of :func:`b32encode`; refuses non-alphabet characters and non-canonical text."""
    if not text:
        return b""
    raw = text.encode("ascii")  # UnicodeEncodeError is a ValueError: not base32
    bits = 5 * len(raw)
    nbytes, extra = divmod(bits, 8)
    if extra >= 5:  # no byte string encodes to this many characters
        raise ValueError("impossible base32 length")
    number = int(raw.translate(_FROM_B32), 32)  # ValueError on "!": not base32
    if number & ((1 << extra) - 1):
        raise ValueError("non-zero padding bits")
    return (number >> extra).to_bytes(nbytes, "big")


def seal_text_from(value: str) -> str:
    """The seal text in ``value``: the text itself or a verification URL carrying it after ``#``.

    Raises :class:`SealError` when ``value`` carries no EL1 seal at all.
    """
    text = value.strip()
    if "#" in text:
        text = text.rsplit("#", 1)[1]
    if text[: len(PREFIX)].upper() != PREFIX:  # no character upper-cases into part of "EL1:"
        raise SealError(
            "is not an EL1 seal: expected EL1:… or a verification URL ending in #EL1:…",
            field="seal",
        )
    if len(text) > MAX_SEAL_TEXT:
        raise SealError(f"is longer than {MAX_SEAL_TEXT} characters", field="seal")
    return PREFIX + text[len(PREFIX) :].upper()  # some scanners hand back lower case


def cose_bytes(seal_text: str) -> bytes:
    """The COSE_Sign1 bytes inside a seal text (base32 and zlib undone)."""
    return _cose_bytes(seal_text_from(seal_text))


def _cose_bytes(text: str) -> bytes:
    body = text[len(PREFIX) :]
    try:
        compressed = b32decode(body)
    except ValueError as e:
        raise SealError("is not valid base32 after EL1:", field="seal") from e
    try:
        inflater = zlib.decompressobj()
        cose = inflater.decompress(compressed, MAX_COSE_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            raise SealError("does not inflate to a complete COSE message", field="seal")
    except zlib.error as e:
        raise SealError("is not valid zlib data", field="seal") from e
    return cose


def decode_seal(seal_text: str) -> DecodedSeal:
    """Check the structure of a seal and read its claims (no signature check)."""
    return decode_seal_text(seal_text_from(seal_text))


# what cbor2 makes of a CBOR map: a dict, or inside a tag (a COSE_Sign1's unprotected header) a
# cbor2.frozendict; checked by type before the Mapping ABC, whose check costs ten times more
_MAP_TYPES = frozenset({dict, cbor2.frozendict})


def _is_map(value: object) -> TypeGuard[Mapping[Any, Any]]:
    """A CBOR map as cbor2 gives it (any other Mapping too)."""
    return type(value) in _MAP_TYPES or isinstance(value, Mapping)


def decode_seal_text(text: str) -> DecodedSeal:
    """:func:`decode_seal` for a text :func:`seal_text_from` already gave."""
    cose = _cose_bytes(text)
    try:
        obj = cbor2.loads(cose)
    except Exception as e:  # cbor2 raises several types for malformed input
        raise SealError("is not valid CBOR", field="seal") from e
    if not isinstance(obj, cbor2.CBORTag) or obj.tag != COSE_SIGN1_TAG:
        raise SealError("is not a tagged COSE_Sign1", field="seal")
    msg = obj.value
    if not (
        isinstance(msg, (list, tuple))
        and len(msg) == 4
        and isinstance(msg[0], bytes)
        and _is_map(msg[1])
        and isinstance(msg[2], bytes)
        and isinstance(msg[3], bytes)
    ):
        raise SealError(
            "COSE_Sign1 must be [protected, unprotected, payload, signature]", field="seal"
        )
    protected_bytes, _unprotected, payload, signature = msg
    try:
        claims_raw = cbor2.loads(payload)
    except Exception as e:
        raise SealError("protected header or payload is not valid CBOR", field="seal") from e
    alg, kid = _protected_alg_kid(protected_bytes)
    claims = _claims(claims_raw)
    return DecodedSeal(text, cose, protected_bytes, kid, alg, payload, signature, claims)


@functools.lru_cache(maxsize=256)  # one protected header per signing key: read once
def _protected_alg_kid(protected_bytes: bytes) -> tuple[int, bytes]:
    """The ``alg`` and ``kid`` of a seal's protected header; SealError when it has none."""
    try:
        protected = cbor2.loads(protected_bytes)
    except Exception as e:
        raise SealError("protected header or payload is not valid CBOR", field="seal") from e
    if not _is_map(protected):
        raise SealError("protected header is not a map", field="seal")
    alg, kid = protected.get(HEADER_ALG), protected.get(HEADER_KID)
    if not isinstance(alg, int) or not isinstance(kid, bytes):
        raise SealError("protected header must carry alg and kid", field="seal")
    return alg, kid


_ABSENT = object()  # a key not in the licence map (status_index may be absent, never null)


def _claims(raw: object) -> SealClaims:
    if not _is_map(raw):
        raise SealError("payload is not a CWT claims map", field="seal")
    iss, iat, exp, body = (
        raw.get(CLAIM_ISS),
        raw.get(CLAIM_IAT),
        raw.get(CLAIM_EXP),
        raw.get(CLAIM_LICENCE),
    )
    if not isinstance(iss, str) or not isinstance(iat, int) or not _is_map(body):
        raise SealError("payload must carry iss, iat and the licence claim", field="seal")
    if exp is not None and not isinstance(exp, int):
        raise SealError("exp must be an integer", field="seal")
    try:
        identifier, type_code, number = body[K_IDENTIFIER], body[K_TYPE], body[K_NUMBER]
        holder_name, holder_id = body[K_HOLDER_NAME], body[K_HOLDER_ID]
        holder_id_type = body[K_HOLDER_ID_TYPE]
        valid_from = dt.date.fromisoformat(body[K_VALID_FROM])
        until = body.get(K_VALID_UNTIL)
        valid_until = dt.date.fromisoformat(until) if until is not None else None
        version, data = body[K_VERSION], body[K_DATA]
        status_index = body.get(K_STATUS_INDEX, _ABSENT)
    except (KeyError, TypeError, ValueError) as e:
        raise SealError("licence claim is incomplete or malformed", field="seal") from e
    if not (
        isinstance(identifier, str)
        and isinstance(type_code, str)
        and isinstance(number, str)
        and isinstance(holder_name, str)
        and isinstance(holder_id, str)
        and isinstance(holder_id_type, str)
        and isinstance(version, int)
    ):
        raise SealError("licence claim has a field of the wrong type", field="seal")
    if status_index is _ABSENT:  # absent in older seals; never null
        status_index = None
    elif not (type(status_index) is int and 0 <= status_index <= MAX_STATUS_INDEX):
        raise SealError(
            f"licence status index must be an integer 0-{MAX_STATUS_INDEX}", field="seal"
        )
    if not _seal_data(data):
        raise SealError(
            f"licence data must map seal keys (1-{MAX_SEAL_KEY}) to strings", field="seal"
        )
    return SealClaims(
        issuer=iss,
        issued_at=iat,
        expires_at=exp,
        licence=SealedLicence(
            identifier=identifier,
            type_code=type_code,
            licence_number=number,
            holder_name=holder_name,
            holder_id=holder_id,
            holder_id_type=holder_id_type,
            valid_from=valid_from,
            valid_until=valid_until,
            version=version,
            # a dict cbor2 has just made is the seal's alone; any other mapping is copied
            data=data if type(data) is dict else dict(data),
            status_index=status_index,
        ),
    )


def _seal_data(data: object) -> bool:
    """Whether ``data`` maps seal keys (integers 1 to MAX_SEAL_KEY) to strings."""
    if not _is_map(data):
        return False
    for k, v in data.items():
        if type(k) is not int or not 1 <= k <= MAX_SEAL_KEY or not isinstance(v, str):
            return False
    return True
