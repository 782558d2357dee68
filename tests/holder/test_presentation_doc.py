"""An independent decoder of EP1 presentations, written from docs/formats.md §9 (and §2, §4.2).

The decoding half uses only ``base64``, ``zlib``, ``hashlib``, ``cbor2`` and ``cryptography``:
nothing from ``elicence``. elicence only *produces* the presentation, the trust list and the root
(through the service, as a hall would fetch them). If this decoder and elicence disagree, the
code or the document is wrong.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import zlib
from collections.abc import Mapping
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ObjectIdentifier

from tests.holder.conftest import ORG_X, World

TRUST_LIST_EKU = ObjectIdentifier("2.25.311947153180298131036358546431367436881")


class RefusedError(Exception):
    pass


# -- the decoder (docs/formats.md) -------------------------------------------------------------


def _b32(body: str) -> bytes:
    return base64.b32decode(body + "=" * (-len(body) % 8))


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data)
    if not d.eof or d.unused_data:
        raise RefusedError("incomplete zlib stream")
    return out


def _sign1(data: bytes) -> tuple[bytes, Mapping[Any, Any], bytes, bytes]:
    obj = cbor2.loads(data)
    if not isinstance(obj, cbor2.CBORTag) or obj.tag != 18 or len(obj.value) != 4:
        raise RefusedError("not a tagged COSE_Sign1")
    protected, _unprotected, payload, signature = obj.value
    header = cbor2.loads(protected)
    if header.get(1) != -7:
        raise RefusedError("not ES256")
    return protected, header, payload, signature


def _es256(key: Any, protected: bytes, aad: bytes, payload: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(
            der, cbor2.dumps(["Signature1", protected, aad, payload]), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        return False
    return True


def _kid(cert: x509.Certificate) -> bytes:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()[:8]


def trust_list(
    data: bytes, root: x509.Certificate
) -> tuple[x509.Certificate, dict[bytes, x509.Certificate]]:
    """§4.2: the service certificate (header 33) and the department certificates by kid."""
    protected, header, payload, signature = _sign1(data)
    service = x509.load_der_x509_certificate(header[33])
    service.verify_directly_issued_by(root)
    eku = service.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    if TRUST_LIST_EKU not in eku:
        raise RefusedError("the trust list signer lacks the trust-list EKU")
    if not _es256(service.public_key(), protected, b"", payload, signature):
        raise RefusedError("trust list signature")
    body = cbor2.loads(payload)
    departments = {}
    for entry in body[5]:
        cert = x509.load_der_x509_certificate(entry[4])
        departments[entry[1]] = cert
    return service, departments


def decode_and_verify(
    text: str,
    *,
    service: x509.Certificate,
    departments: Mapping[bytes, x509.Certificate],
    now: int,
    holder: str | None = None,
) -> dict[str, Any]:
    """§9.4 steps 1-5 and the seal's signature (§2.2); returns what it found."""
    if not text.upper().startswith("EP1:"):
        raise RefusedError("not EP1")
    protected, header, payload, signature = _sign1(_inflate(_b32(text[4:].upper())))  # 1.
    body = cbor2.loads(payload)
    seal, nbf, naf, nonce, binding = body[1], body[2], body[3], body[4], body[5]
    assert isinstance(seal, bytes) and len(nonce) == 12 and len(binding) == 16
    if header[4] != _kid(service):  # 2.
        raise RefusedError("untrusted: not the service key")
    if not _es256(service.public_key(), protected, b"EP1", payload, signature):  # 3.
        raise RefusedError("invalid: signature")
    if naf - nbf > 120:  # 4.
        raise RefusedError("invalid: window too long")
    if now > naf + 10:
        raise RefusedError("expired")
    if now < nbf - 10:
        raise RefusedError("not yet valid")
    if holder is not None:  # 5.
        expect = hashlib.sha256(b"EP1" + nonce + holder.encode()).digest()[:16]
        if expect != binding:
            raise RefusedError("invalid: another holder")
    s_protected, s_header, s_payload, s_signature = _sign1(seal)  # the seal, §2.2
    cert = departments[s_header[4]]
    if not _es256(cert.public_key(), s_protected, b"", s_payload, s_signature):
        raise RefusedError("invalid: seal signature")
    claims = cbor2.loads(s_payload)
    return {"identifier": claims[-65537][1], "not_before": nbf, "not_after": naf}


# -- the tests ----------------------------------------------------------------------------------


def _inputs(world: World) -> tuple[str, x509.Certificate, dict[bytes, x509.Certificate], int]:
    text = world.api.get(
        f"/api/v1/licences/{world.food['identifier']}/presentation", headers=world.org
    ).json()["presentation"]
    tl = world.api.get("/api/v1/trust-list.cose").content
    root = x509.load_pem_x509_certificate(world.api.get("/api/v1/root.crt").content)
    service, departments = trust_list(tl, root)
    now = int(world.service.clock().timestamp())
    return text, service, departments, now


def test_the_independent_decoder_accepts_what_the_service_makes(world: World) -> None:
    text, service, departments, now = _inputs(world)
    found = decode_and_verify(
        text, service=service, departments=departments, now=now, holder=f"001:{ORG_X}"
    )
    assert found["identifier"] == world.food["identifier"]
    assert found["not_after"] - found["not_before"] == 90
    assert found["not_before"] == now


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param({"now": 101}, "expired", id="screenshot"),
        pytest.param({"now": -11}, "not yet valid", id="clock-ahead"),
        pytest.param({"holder": "001:91440101MA59TK3R7Y"}, "another holder", id="other-holder"),
    ],
)
def test_the_independent_decoder_refuses_as_the_document_says(
    world: World, change: dict[str, Any], why: str
) -> None:
    text, service, departments, now = _inputs(world)
    with pytest.raises(RefusedError, match=why):
        decode_and_verify(
            text,
            service=service,
            departments=departments,
            now=now + change.get("now", 0),
            holder=change.get("holder"),
        )


def test_the_signature_needs_the_ep1_external_aad(world: World) -> None:
    """Verified with an empty AAD (as a trust list is), the same signature fails: the domain
    separation of §9.2 is real."""
    text, service, _departments, _now = _inputs(world)
    protected, _header, payload, signature = _sign1(_inflate(_b32(text[4:])))
    assert _es256(service.public_key(), protected, b"EP1", payload, signature)
    assert not _es256(service.public_key(), protected, b"", payload, signature)


def test_the_verdicts_of_elicence_match_the_decoders_near_the_window_edges(world: World) -> None:
    from elicence.verifier import UnsafeSkipStatusCheck
    from elicence.verifier.presentation import verify_presentation

    text, service, departments, now = _inputs(world)
    tl = world.service.keys.trust_list()
    for offset in (-11, -10, 0, 90, 100, 101):
        at = dt.datetime.fromtimestamp(now + offset, dt.UTC)
        ours = verify_presentation(text, trust_list=tl, status=UnsafeSkipStatusCheck, now=at)
        try:
            decode_and_verify(text, service=service, departments=departments, now=now + offset)
            theirs = "accepted"
        except RefusedError as e:
            theirs = str(e).replace(" ", "_")
        assert str(ours.verdict) == theirs, offset
