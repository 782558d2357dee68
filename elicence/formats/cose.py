"""COSE_Sign1 documents signed by the service key: log checkpoints and status lists.

The same envelope as the trust list (docs/formats.md §4.2): a tagged COSE_Sign1, ES256, whose
protected header carries ``alg``, ``kid`` and ``x5chain`` (33) = the service certificate DER.
Invariant: :func:`verify_service_document` returns a payload only after the signer certificate was
found directly issued by the pinned root with the trust-list EKU, valid at the document's time,
and the signature verified.

A department's SM2 key signs its status lists instead of the service key (ADR 0016): the same
envelope with ``alg`` -65537 (SM2 with SM3, ``r || s``); :func:`sign_service_document` takes the
signer's algorithm, and :func:`document_alg` tells a verifier which path to take.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.errors import Error
from elicence.keys import pki, sm2
from elicence.keys.signer import ES256, SM2, Signer, raw_to_der

HEADER_ALG, HEADER_KID, HEADER_X5CHAIN = 1, 4, 33
ALG_ES256 = -7
ALG_SM2_SM3 = -65537  # as the EL1 seal's (formats.md §2.2)
_ALG_OF = {ES256: ALG_ES256, SM2: ALG_SM2_SM3}
COSE_SIGN1_TAG = 18


def sign_service_document(signer: Signer, payload: Mapping[int, Any]) -> bytes:
    """Sign a CBOR map as a tagged COSE_Sign1 carrying the signer's certificate."""
    alg = _ALG_OF.get(signer.algorithm)
    if alg is None:
        raise Error(f"a signed document cannot be signed with {signer.algorithm}")
    body = cbor2.dumps(dict(payload))
    protected = cbor2.dumps(
        {
            HEADER_ALG: alg,
            HEADER_KID: signer.kid,
            HEADER_X5CHAIN: signer.certificate.public_bytes(serialization.Encoding.DER),
        }
    )
    signature = signer.sign(cbor2.dumps(["Signature1", protected, b"", body]))
    return bytes(cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, body, signature])))


def _sign1(
    signed: bytes, *, error: type[Error], what: str
) -> tuple[bytes, Mapping[Any, Any], bytes, Mapping[Any, Any], object] | None:
    """A COSE_Sign1's protected header (bytes and map), payload (bytes and map) and signature;
    None when it decodes but is not a tagged COSE_Sign1 with a map header and payload (each
    caller says what it needed); ``error`` when it does not decode at all."""
    try:
        obj = cbor2.loads(signed)
        protected_bytes, _unprotected, payload, signature = obj.value
        protected = cbor2.loads(protected_bytes)
        body = cbor2.loads(payload)
    except Exception as e:
        raise error(f"the {what} is not a COSE_Sign1 message") from e
    if (
        not isinstance(obj, cbor2.CBORTag)
        or obj.tag != COSE_SIGN1_TAG
        or not isinstance(protected, Mapping)
        or not isinstance(body, Mapping)
    ):
        return None
    return protected_bytes, protected, payload, body, signature


def verify_service_document(
    signed: bytes,
    *,
    root: x509.Certificate,
    signed_at: Callable[[Mapping[Any, Any]], dt.datetime],
    error: type[Error],
    what: str,
) -> Mapping[Any, Any]:
    """Check a service-signed document against the pinned ``root``; return its payload map.

    Steps: 1. a tagged COSE_Sign1 with ES256 and an x5chain certificate; 2. that certificate is
    issued by the root with the trust-list EKU; 3. it was valid at ``signed_at(payload)``;
    4. the signature verifies. Any failure raises ``error``.
    """
    # 1.
    parts = _sign1(signed, error=error, what=what)
    if parts is None:
        raise error(f"the {what} is not a tagged COSE_Sign1 with a map payload")
    protected_bytes, protected, payload, body, signature = parts
    if protected.get(HEADER_ALG) != ALG_ES256 or not isinstance(signature, bytes):
        raise error(f"the {what} must be signed with ES256")
    try:
        cert = x509.load_der_x509_certificate(protected[HEADER_X5CHAIN])
    except (KeyError, TypeError, ValueError) as e:
        raise error(f"the {what} carries no readable signer certificate") from e
    # 2.
    if not pki.issued_by(cert, root) or not pki.has_trust_list_eku(cert):
        raise error(
            f"the {what} signer is not certified by the root for trust lists and checkpoints "
            "(the service key)"
        )
    # 3.
    at = signed_at(body)
    if not (cert.not_valid_before_utc <= at <= cert.not_valid_after_utc):
        raise error(f"the {what} signer certificate was not valid when the {what} was issued")
    # 4.
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) != 64:
        raise error(f"the {what} signature is not ES256")
    try:
        key.verify(
            raw_to_der(signature),
            cbor2.dumps(["Signature1", protected_bytes, b"", payload]),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        raise error(f"the {what} signature does not verify") from None
    return body


def document_alg(signed: bytes) -> object:
    """The ``alg`` a signed document's protected header states (None if it does not decode)."""
    try:
        obj = cbor2.loads(signed)
        protected = cbor2.loads(obj.value[0])
        return protected.get(HEADER_ALG) if isinstance(protected, Mapping) else None
    except Exception:  # cbor2 raises several types; the full check reports it properly
        return None


def verify_sm2_document(
    signed: bytes, *, sm2_public_key: bytes, error: type[Error], what: str
) -> tuple[bytes, Mapping[Any, Any]]:
    """Check the SM2-with-SM3 signature of a document under ``sm2_public_key`` and return its
    kid and payload map; who may sign it (a trust list entry) is the caller's to check.
    Any failure raises ``error``."""
    parts = _sign1(signed, error=error, what=what)
    malformed = f"the {what} is not a tagged COSE_Sign1 with a kid and a map payload"
    if parts is None:
        raise error(malformed)
    protected_bytes, protected, payload, body, signature = parts
    if not isinstance(signature, bytes) or not isinstance(protected.get(HEADER_KID), bytes):
        raise error(malformed)
    if protected.get(HEADER_ALG) != ALG_SM2_SM3:
        raise error(f"the {what} is not signed with SM2")
    message = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    if not sm2.verify(sm2_public_key, message, signature):
        raise error(f"the {what} signature does not verify")
    return protected[HEADER_KID], body


def document_kid(signed: bytes) -> bytes | None:
    """The kid a signed document's protected header states (None if it has none)."""
    try:
        obj = cbor2.loads(signed)
        protected = cbor2.loads(obj.value[0])
        kid = protected.get(HEADER_KID) if isinstance(protected, Mapping) else None
    except Exception:
        return None
    return kid if isinstance(kid, bytes) else None
