"""An independent verifier written from docs/formats.md alone.

The verifying half of this file uses only ``base64``, ``zlib``, ``hashlib``, ``cbor2`` and
``cryptography``: nothing from ``elicence``. If it disagrees with elicence, either the code or the
document is wrong. elicence is used only to *produce* a fresh seal, trust list and status lists
(the last test).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID, ObjectIdentifier

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"

# -- the independent verifier (docs/formats.md) ----------------------------------------------

ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
IDENTIFIER_PREFIX = "1.2.156.3005.2."
TRUST_LIST_EKU = ObjectIdentifier("2.25.311947153180298131036358546431367436881")
ORGANIZATION_IDENTIFIER = ObjectIdentifier("2.5.4.97")


class RejectedError(Exception):
    """The independent verifier refuses the input."""


def mod37_36(text: str) -> str:
    """§1.1: ISO/IEC 7064 MOD 37,36, alphabet 0-9A-Z valued 0-35."""
    p = 36
    for c in text:
        if c not in ALNUM36:
            raise RejectedError(f"character {c!r} outside 0-9A-Z")
        p = (p + ALNUM36.index(c)) % 36
        if p == 0:
            p = 36
        p = (2 * p) % 37
    return ALNUM36[(37 - p) % 36]


@dataclass
class Identifier:
    type_code: str
    issuer_code: str
    serial: str
    version: int


def check_identifier(text: str) -> Identifier:
    """§1.1: split the identifier and check its MOD 37,36 character."""
    if not text.startswith(IDENTIFIER_PREFIX):
        raise RejectedError("identifier prefix")
    parts = text[len(IDENTIFIER_PREFIX) :].split(".")
    if len(parts) != 5:
        raise RejectedError("identifier parts")
    type_code, issuer, serial, version, check = parts
    if len(type_code) != 21 or len(issuer) != 18 or len(version) != 3 or not version.isdigit():
        raise RejectedError("identifier part lengths")
    if mod37_36(type_code + issuer + serial + version) != check:
        raise RejectedError("identifier check character")
    return Identifier(type_code, issuer, serial, int(version))


def der_signature(raw: bytes) -> bytes:
    """§2.2: raw r || s (32 + 32 bytes) to DER for ``cryptography``."""
    if len(raw) != 64:
        raise RejectedError("ES256 signature must be 64 bytes")
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def es256_ok(public_key: Any, protected: bytes, payload: bytes, signature: bytes) -> bool:
    """§2.2: the signature over ["Signature1", protected, h'', payload]."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return False
    message = cbor2.dumps(["Signature1", protected, b"", payload])
    try:
        public_key.verify(der_signature(signature), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def kid_of(cert: x509.Certificate) -> bytes:
    """§2.2: the first 8 bytes of SHA-256 over the certificate's DER."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()[:8]


def issued_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def cose_sign1(data: bytes) -> tuple[bytes, Mapping[Any, Any], bytes, bytes]:
    """A tagged COSE_Sign1: (protected bytes, protected map, payload, signature)."""
    obj = cbor2.loads(data)
    if not isinstance(obj, cbor2.CBORTag) or obj.tag != 18:
        raise RejectedError("not a tagged COSE_Sign1")
    msg = obj.value
    if not isinstance(msg, list | tuple) or len(msg) != 4:
        raise RejectedError("COSE_Sign1 is not an array of 4")
    protected, _unprotected, payload, signature = msg
    header = cbor2.loads(protected)
    if not isinstance(header, Mapping) or header.get(1) != -7:
        raise RejectedError("alg is not ES256")
    return protected, header, payload, signature


def decode_seal(text: str) -> tuple[bytes, Mapping[Any, Any], bytes, bytes]:
    """§2.1: strip EL1:, base32 (pad with =), inflate, then the COSE_Sign1."""
    text = text.strip()
    if "#" in text:
        text = text.rsplit("#", 1)[1]
    if not text.startswith("EL1:"):
        raise RejectedError("not an EL1 seal")
    body = text[4:]
    compressed = base64.b32decode(body + "=" * (-len(body) % 8))
    return cose_sign1(zlib.decompress(compressed))


@dataclass
class TrustEntry:
    sequence: int  # §4.2 key 6 of the list it came from (0: none stated)
    department: str
    certificate: x509.Certificate
    status: str
    status_since: int
    licence_types: list[str]


def verify_trust_list(data: bytes, root: x509.Certificate) -> dict[bytes, TrustEntry]:
    """§4.2: check an EL-TL1 trust list with only the pinned root; entries by kid."""
    protected, header, payload, signature = cose_sign1(data)  # 1.
    signer = x509.load_der_x509_certificate(header[33])
    if not issued_by(signer, root):  # 2.
        raise RejectedError("trust list signer not issued by the root")
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    if TRUST_LIST_EKU not in eku:
        raise RejectedError("trust list signer lacks the trust-list EKU")
    body = cbor2.loads(payload)
    issued = dt.datetime.fromtimestamp(body[2], dt.UTC)
    if not signer.not_valid_before_utc <= issued <= signer.not_valid_after_utc:  # 3.
        raise RejectedError("trust list signer not valid when the list was issued")
    if not es256_ok(signer.public_key(), protected, payload, signature):  # 4.
        raise RejectedError("trust list signature")
    if body[1] != "EL-TL1" or body[4] != root.public_bytes(serialization.Encoding.DER):  # 5.
        raise RejectedError("trust list format or root")
    sequence = body.get(6, 0)
    if 6 in body and not (type(sequence) is int and 1 <= sequence <= 2**63 - 1):
        raise RejectedError("trust list sequence")
    entries = {}
    for e in body[5]:
        cert = x509.load_der_x509_certificate(e[4])
        if e[1] != kid_of(cert) or e[5] not in ("active", "retired", "revoked"):
            raise RejectedError("trust list entry")
        entries[e[1]] = TrustEntry(sequence, e[2], cert, e[5], e[6], list(e[7]))
    return entries


def verify(
    seal: str,
    *,
    signer: x509.Certificate,
    root: x509.Certificate,
    licence_types: list[str] | None = None,
    status: str = "active",
    status_since: int | None = None,
) -> dict[Any, Any]:
    """§5, steps 1 and 3-8 (no registry, no clock): returns the licence map or raises."""
    protected, header, payload, signature = decode_seal(seal)  # 1.
    claims = cbor2.loads(payload)
    iss, iat, licence = claims[1], claims[6], claims[-65537]
    if header[4] != kid_of(signer):  # 3.
        raise RejectedError("kid does not name this certificate")
    if not issued_by(signer, root):  # 4.
        raise RejectedError("signer not issued by the root")
    sealed = dt.datetime.fromtimestamp(iat, dt.UTC)
    if not signer.not_valid_before_utc <= sealed <= signer.not_valid_after_utc:  # 5.
        raise RejectedError("signer not valid when the seal was made")
    if status == "revoked":  # compromised: whatever iat says
        raise RejectedError("signer revoked")
    if status != "active" and status_since is not None and iat >= status_since:
        raise RejectedError("signer withdrawn before the seal was made")
    if not es256_ok(signer.public_key(), protected, payload, signature):  # 6.
        raise RejectedError("bad signature")
    ident = check_identifier(licence[1])  # 7.
    department = signer.subject.get_attributes_for_oid(ORGANIZATION_IDENTIFIER)[0].value
    if iss != department or ident.issuer_code != iss:
        raise RejectedError("issuer inconsistent")
    if ident.type_code != licence[2] or ident.version != licence[9]:
        raise RejectedError("identifier differs from the claims")
    data = licence[10]  # §2.3: seal key (an integer from the catalogue) -> text
    if not isinstance(data, Mapping) or not all(
        type(k) is int and 1 <= k <= 23 and isinstance(v, str) for k, v in data.items()
    ):
        raise RejectedError("licence data must map seal keys 1-23 to text")
    index = licence.get(11)  # §2.3: the status index, absent in older seals
    if 11 in licence and not (type(index) is int and 0 <= index <= 2**31 - 1):
        raise RejectedError("the status index must be an unsigned integer")
    if licence_types is not None and licence[2] not in licence_types:  # 8.
        raise RejectedError("department may not issue this type")
    return {"iss": iss, "iat": iat, "exp": claims.get(4), "licence": licence}


@dataclass
class StatusList:
    department: str
    purpose: str
    issued_at: int
    valid_until: int
    size: int
    bits: bytes

    def is_set(self, index: int) -> bool:
        """§8: bit i is bit 7 - (i mod 8) of byte i div 8 (the most significant bit first)."""
        if not 0 <= index < self.size:
            raise RejectedError("the list does not cover this index")
        return bool(self.bits[index // 8] >> (7 - index % 8) & 1)


def verify_status_list(data: bytes, root: x509.Certificate) -> StatusList:
    """§8: check an EL-SL1 status list with only the pinned root (as a trust list, §4.2)."""
    protected, header, payload, signature = cose_sign1(data)
    signer = x509.load_der_x509_certificate(header[33])
    if not issued_by(signer, root):
        raise RejectedError("status list signer not issued by the root")
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    if TRUST_LIST_EKU not in eku:
        raise RejectedError("status list signer lacks the trust-list EKU")
    body = cbor2.loads(payload)
    issued = dt.datetime.fromtimestamp(body[4], dt.UTC)
    if not signer.not_valid_before_utc <= issued <= signer.not_valid_after_utc:
        raise RejectedError("status list signer not valid when the list was issued")
    if not es256_ok(signer.public_key(), protected, payload, signature):
        raise RejectedError("status list signature")
    size = body[6]
    if body[1] != "EL-SL1" or body[3] not in ("revocation", "suspension", "supersession"):
        raise RejectedError("status list format or purpose")
    if type(size) is not int or size % 131072 or not 131072 <= size <= 2**27:
        raise RejectedError("status list size")
    if body[5] <= body[4]:
        raise RejectedError("status list validity")
    inflater = zlib.decompressobj()
    bits = inflater.decompress(body[7], size // 8 + 1)
    if len(bits) != size // 8 or not inflater.eof or inflater.unused_data:
        raise RejectedError("status list bitstring length")
    return StatusList(body[2], body[3], body[4], body[5], size, bits)


def label_data(data: Mapping[int, str], entry: Mapping[str, Any]) -> dict[str, str]:
    """§2.3: name the sealed data items through the type's catalogue entry (its JSON form)."""
    names = {i["seal_key"]: i["name"] for i in entry["data_items"] if i["in_seal"]}
    return {names.get(k, str(k)): v for k, v in data.items()}


# -- tests ------------------------------------------------------------------------------------


def _pem(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((EXAMPLES / name).read_bytes())


def test_mod37_36_on_design_identifiers() -> None:
    assert mod37_36("11100000000013338W01111430000006122244L20230000403001") == "U"
    assert mod37_36("11100000000013338W00911330105002500287C2025052201002") == "0"


def test_example_files_verify() -> None:
    seal = (EXAMPLES / "seal.txt").read_text()
    signer, root = _pem("signer.pem"), _pem("root.pem")
    _, header, _, _ = decode_seal(seal)
    assert header[4] == kid_of(signer) == bytes.fromhex("103044460289fd55")
    assert issued_by(signer, root)
    entries = verify_trust_list((EXAMPLES / "trust-list.cose").read_bytes(), root)
    entry = entries[kid_of(signer)]
    assert entry.certificate == signer and entry.status == "active"
    out = verify(seal, signer=signer, root=root, licence_types=entry.licence_types)
    lic = out["licence"]
    assert out["iss"] == "11440100MB2D00002M" == entry.department
    assert lic[1] == (
        "1.2.156.3005.2.11100000000013338W011.11440100MB2D00002M.HFY1HMQQHKHL3XJ9.001.J"
    )
    assert check_identifier(lic[1]).issuer_code == out["iss"]
    assert lic[8] == "2031-11-27"
    # exp: the end of the last valid day, Beijing time
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert out["exp"] == int(dt.datetime(2031, 11, 28, tzinfo=beijing).timestamp())
    assert out["iat"] == int(dt.datetime(2026, 11, 28, 2, tzinfo=dt.UTC).timestamp())
    # the food business permit seals no data items: key 10 is an empty map
    assert lic[10] == {}
    # key 11: the first status index of the department
    assert lic[11] == 0
    # key 10 is labelled through the type's catalogue entry (data_items[].seal_key)
    catalogue_entry = {
        "data_items": [
            {"name": "legal_representative", "in_seal": True, "seal_key": 1},
            {"name": "residence", "in_seal": False, "seal_key": None},
            {"name": "main_business_format", "in_seal": True, "seal_key": 2},
        ]
    }
    assert label_data({1: "张三", 2: "餐饮服务经营者"}, catalogue_entry) == {
        "legal_representative": "张三",
        "main_business_format": "餐饮服务经营者",
    }


def test_example_status_list_verifies_and_the_example_is_not_revoked() -> None:
    root = _pem("root.pem")
    listed = verify_status_list((EXAMPLES / "status-list-revocation.cose").read_bytes(), root)
    assert (listed.department, listed.purpose) == ("11440100MB2D00002M", "revocation")
    assert listed.issued_at == int(dt.datetime(2026, 11, 28, 2, tzinfo=dt.UTC).timestamp())
    assert listed.valid_until - listed.issued_at == 24 * 3600
    assert listed.size == 131072 and listed.bits == bytes(16384)
    _, _, payload, _ = decode_seal((EXAMPLES / "seal.txt").read_text())
    assert not listed.is_set(cbor2.loads(payload)[-65537][11])


def test_tampered_copy_fails() -> None:
    seal = (EXAMPLES / "seal.txt").read_text().strip()
    body = seal[4:]
    cose = zlib.decompress(base64.b32decode(body + "=" * (-len(body) % 8)))
    assert cose.count(b"JY1440106") == 1
    tampered = cose.replace(b"JY1440106", b"JY2440106")  # one payload byte of the licence number
    assert sum(a != b for a, b in zip(cose, tampered, strict=True)) == 1
    forged = "EL1:" + base64.b32encode(zlib.compress(tampered, 9)).decode().rstrip("=")
    assert forged != seal
    _, _, payload, _ = decode_seal(forged)
    assert cbor2.loads(payload)[-65537][3] == "JY24401060000123"  # still decodes
    with pytest.raises(RejectedError, match="bad signature"):
        verify(forged, signer=_pem("signer.pem"), root=_pem("root.pem"))


def test_fresh_seal_verifies_against_service_trust_list(service) -> None:  # type: ignore[no-untyped-def]
    # Production side: elicence issues a seal and signs a trust list.
    from elicence.domain.clients import Client, Role
    from elicence.formats.catalogue_file import licence_type_to_dict
    from tests.conftest import MARRIAGE, TH_CIVIL, marriage

    client = Client("c_test", "test", Role.DEPARTMENT, TH_CIVIL)
    seal = service.licences.issue(client, marriage("DOC-FORMATS-1")).licence.seal
    url = service.licences.verification_url(seal)
    signed = service.keys.trust_list().signed
    root_pem = service.keystore.root_certificate().public_bytes(serialization.Encoding.PEM)
    # what GET /api/v1/catalogue/licence-types/{code} answers
    catalogue_entry = licence_type_to_dict(service.catalogue().licence_type(MARRIAGE))

    # Verifying side: independent code only.
    root = x509.load_pem_x509_certificate(root_pem)
    assert url.endswith("/v#" + seal)
    entries = verify_trust_list(signed, root)
    _, header, _, _ = decode_seal(url)
    entry = entries[header[4]]
    out = verify(
        url,
        signer=entry.certificate,
        root=root,
        licence_types=entry.licence_types,
        status=entry.status,
        status_since=entry.status_since,
    )
    assert out["iss"] == TH_CIVIL == entry.department
    assert out["licence"][10] and all(type(k) is int for k in out["licence"][10])
    assert label_data(out["licence"][10], catalogue_entry) == {
        "spouse_name": "王五",
        "registration_date": "2026-11-28",
    }
    assert entry.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    # revoked: its bit is set in the department's revocation list (§8), read independently
    index = out["licence"][11]
    admin = Client("c_admin", "admin", Role.ADMIN, None)
    from elicence.issuer.lifecycle import Action

    service.licences.change_status(admin, out["licence"][1], Action.REVOKE, reason="注销")
    revocation = service.keys.status_list(TH_CIVIL, "revocation").signed
    listed = verify_status_list(revocation, root)
    assert listed.department == TH_CIVIL and listed.is_set(index)
    assert [i for i in range(listed.size) if listed.is_set(i)] == [index]
    suspension = verify_status_list(service.keys.status_list(TH_CIVIL, "suspension").signed, root)
    assert not suspension.is_set(index)
    assert entry.sequence >= 1  # §4.2 key 6
    # a compromised key: listed revoked, since its notBefore, so every seal of it is refused,
    # also by the earlier rule (iat >= status since)
    service.keys.compromise(TH_CIVIL, since=service.clock())
    after = verify_trust_list(service.keys.trust_list().signed, root)
    revoked = after[header[4]]
    assert revoked.status == "revoked" and after[header[4]].sequence > entry.sequence
    assert revoked.status_since <= out["iat"]
    with pytest.raises(RejectedError, match="revoked"):
        verify(url, signer=revoked.certificate, root=root, status="revoked")
    # a trust list whose signature was altered is refused
    broken = bytearray(signed)
    broken[-1] ^= 1
    with pytest.raises(RejectedError):
        verify_trust_list(bytes(broken), root)
