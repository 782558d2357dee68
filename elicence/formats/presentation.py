"""Wire format: EP1: a dynamic presentation of a licence, the QR code a holder's page shows for
60-90 seconds.

Wire form (docs/formats.md §9): ``EP1:`` + base32 (RFC 4648, upper case, no padding) of
zlib(COSE_Sign1). The COSE_Sign1 is ES256 under the **service key** (the trust-list signer), its
protected header ``{1: -7, 4: kid}``, its external AAD the three bytes ``EP1`` (so no other
document the service key signs can pass for a presentation), and its payload the CBOR map
``{1: the EL1 seal's COSE_Sign1 bytes, 2: not before, 3: not after, 4: nonce, 5: holder binding}``.

Invariants: :func:`sign_presentation` only produces what :func:`decode_presentation` reads back;
:func:`decode_presentation` checks structure and sizes, never trust or time (the verifier does).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.errors import PresentationError
from elicence.formats.seal import (
    ALG_ES256,
    COSE_SIGN1_TAG,
    HEADER_ALG,
    HEADER_KID,
    b32decode,
    b32encode,
)
from elicence.formats.seal import (
    PREFIX as SEAL_PREFIX,
)
from elicence.formats.trustlist import TrustList
from elicence.keys.signer import Signer, kid_of, raw_to_der

PREFIX = "EP1:"
EXTERNAL_AAD = b"EP1"
P_SEAL, P_NOT_BEFORE, P_NOT_AFTER, P_NONCE, P_HOLDER = 1, 2, 3, 4, 5
NONCE_BYTES = 12
HOLDER_BINDING_BYTES = 16
WINDOW = dt.timedelta(seconds=90)  # what the service signs: the page refreshes every 60 s
MAX_WINDOW = dt.timedelta(seconds=120)  # a verifier refuses longer windows
CLOCK_SKEW = dt.timedelta(seconds=10)  # a verifier's tolerance either side of the window
MAX_TEXT = 4296  # a version-40 QR code's alphanumeric capacity
MAX_COSE_BYTES = 9216
_X5CHAIN = 33


@dataclass(frozen=True, slots=True)
class DecodedPresentation:
    """A structurally sound presentation whose signature and window are not yet checked."""

    text: str
    kid: bytes
    protected: bytes
    payload: bytes
    signature: bytes
    seal_cose: bytes  # the EL1 seal's COSE_Sign1 bytes, exactly as sealed
    not_before: dt.datetime
    not_after: dt.datetime
    nonce: bytes
    holder_binding: bytes

    @property
    def seal_text(self) -> str:
        """The EL1 seal text of the embedded seal (one of the texts that encode it)."""
        return SEAL_PREFIX + b32encode(zlib.compress(self.seal_cose, 1))  # read back at once

    def signature_valid(self, public_key: ec.EllipticCurvePublicKey) -> bool:
        if len(self.signature) != 64:
            return False
        try:
            public_key.verify(
                raw_to_der(self.signature),
                _sig_structure(self.protected, self.payload),
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            return False
        return True


def holder_binding(nonce: bytes, id_type: str, id_number: str) -> bytes:
    """SHA-256(``EP1`` || nonce || UTF-8 of ``<id type>:<id number>``), first 16 bytes."""
    material = EXTERNAL_AAD + nonce + f"{id_type}:{id_number.strip().upper()}".encode()
    return hashlib.sha256(material).digest()[:HOLDER_BINDING_BYTES]


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return bytes(cbor2.dumps(["Signature1", protected, EXTERNAL_AAD, payload]))


def sign_presentation(
    *,
    seal_cose: bytes,
    holder: tuple[str, str],
    signer: Signer,
    now: dt.datetime,
    window: dt.timedelta = WINDOW,
    nonce: bytes | None = None,
) -> str:
    """A presentation of the seal ``seal_cose`` for ``holder`` (id type, id number) from ``now``."""
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    not_before = int(now.timestamp())
    payload = bytes(
        cbor2.dumps(
            {
                P_SEAL: seal_cose,
                P_NOT_BEFORE: not_before,
                P_NOT_AFTER: not_before + int(window.total_seconds()),
                P_NONCE: nonce,
                P_HOLDER: holder_binding(nonce, *holder),
            }
        )
    )
    protected = bytes(cbor2.dumps({HEADER_ALG: ALG_ES256, HEADER_KID: signer.kid}))
    signature = signer.sign(_sig_structure(protected, payload))
    cose = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    return PREFIX + b32encode(zlib.compress(cose, 9, wbits=10))


def presentation_text_from(value: str) -> str:
    """The EP1 text in ``value`` (scanners may hand back lower case, or a URL ending ``#EP1:``)."""
    text = value.strip()
    if "#" in text:
        text = text.rsplit("#", 1)[1]
    if not text.upper().startswith(PREFIX):
        raise PresentationError("is not a presentation: expected EP1:…", field="presentation")
    if len(text) > MAX_TEXT:
        raise PresentationError(f"is longer than {MAX_TEXT} characters", field="presentation")
    return PREFIX + text[len(PREFIX) :].upper()


def decode_presentation(value: str) -> DecodedPresentation:
    """Read a presentation's structure (no signature, trust or time check)."""
    text = presentation_text_from(value)
    try:
        compressed = b32decode(text[len(PREFIX) :])
    except ValueError as e:
        raise PresentationError("is not valid base32 after EP1:", field="presentation") from e
    try:
        inflater = zlib.decompressobj()
        cose = inflater.decompress(compressed, MAX_COSE_BYTES)
        if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
            raise PresentationError(
                "does not inflate to one complete COSE message", field="presentation"
            )
    except zlib.error as e:
        raise PresentationError("is not valid zlib data", field="presentation") from e
    try:
        obj = cbor2.loads(cose)
        protected, unprotected, payload, signature = obj.value
        header = cbor2.loads(protected)
        body = cbor2.loads(payload)
    except Exception as e:  # cbor2 raises several kinds; any of them means "not a COSE_Sign1"
        raise PresentationError("is not a COSE_Sign1 message", field="presentation") from e
    if (
        not isinstance(obj, cbor2.CBORTag)
        or obj.tag != COSE_SIGN1_TAG
        or not isinstance(protected, bytes)
        or not isinstance(payload, bytes)
        or not isinstance(signature, bytes)
        or not isinstance(header, Mapping)
        or not isinstance(body, Mapping)
        or not isinstance(unprotected, Mapping)
    ):
        raise PresentationError(
            "is not a tagged COSE_Sign1 with a map payload", field="presentation"
        )
    kid = header.get(HEADER_KID)
    if header.get(HEADER_ALG) != ALG_ES256 or not isinstance(kid, bytes):
        raise PresentationError("must be signed with ES256 and name its key", field="presentation")
    return DecodedPresentation(
        text=text,
        kid=kid,
        protected=protected,
        payload=payload,
        signature=signature,
        **_claims(body),
    )


def _claims(body: Mapping[Any, Any]) -> dict[str, Any]:
    seal, nbf, naf = body.get(P_SEAL), body.get(P_NOT_BEFORE), body.get(P_NOT_AFTER)
    nonce, binding = body.get(P_NONCE), body.get(P_HOLDER)
    if not isinstance(seal, bytes) or not seal:
        raise PresentationError("carries no seal (key 1)", field="presentation")
    if not (isinstance(nbf, int) and isinstance(naf, int)) or isinstance(nbf | naf, bool):
        raise PresentationError("must carry integer times (keys 2 and 3)", field="presentation")
    if not 0 <= nbf < naf < 2**40:
        raise PresentationError("its window ends before it begins", field="presentation")
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
        raise PresentationError(f"must carry a {NONCE_BYTES}-byte nonce", field="presentation")
    if not isinstance(binding, bytes) or len(binding) != HOLDER_BINDING_BYTES:
        raise PresentationError(
            f"must carry a {HOLDER_BINDING_BYTES}-byte holder binding", field="presentation"
        )
    return {
        "seal_cose": seal,
        "not_before": dt.datetime.fromtimestamp(nbf, dt.UTC),
        "not_after": dt.datetime.fromtimestamp(naf, dt.UTC),
        "nonce": nonce,
        "holder_binding": binding,
    }


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """The service certificate of a trust list, with what a verifier needs from it, read once."""

    certificate: x509.Certificate
    kid: bytes
    public_key: ec.EllipticCurvePublicKey | None
    not_before: dt.datetime
    not_after: dt.datetime


def service_key(trust_list: TrustList) -> ServiceKey:
    return _service_key(trust_list.signed)


@functools.lru_cache(maxsize=8)  # one trust list serves many verifications
def _service_key(signed: bytes) -> ServiceKey:
    try:
        header = cbor2.loads(cbor2.loads(signed).value[0])
        cert = x509.load_der_x509_certificate(header[_X5CHAIN])
    except Exception as e:  # pragma: no cover - a verified trust list always carries it
        raise PresentationError("the trust list names no signer certificate") from e
    key = cert.public_key()
    return ServiceKey(
        certificate=cert,
        kid=kid_of(cert),
        public_key=key if isinstance(key, ec.EllipticCurvePublicKey) else None,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )
