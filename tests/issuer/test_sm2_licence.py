"""A licence type signed with SM2 and SM3 (``algorithm: SM2``, ADR 0016), end to end: the
department's SM2 key and certificate, issuance, online and offline verification, the PDF
(PAdES ES256 by the same department beside the SM2 QR seal), tampering, an algorithm the
verifier does not know, and the seal checked by independent implementations (the pure-Python
``gmssl`` for the signature, asn1crypto and OpenSSL for the certificate)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import zlib
from pathlib import Path

import cbor2
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from gmssl import sm2 as pure_sm2
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.domain.catalogue import SignatureAlgorithm
from elicence.domain.clients import Client, Role
from elicence.domain.codes import parse_identifier
from elicence.errors import CatalogueError, KeyCustodyError, StatusListError
from elicence.formats.catalogue_file import DEMO_CATALOGUE, parse_catalogue
from elicence.formats.seal import ALG_SM2_SM3, PREFIX, b32decode, b32encode
from elicence.formats.statuslist import MIN_BITS, Purpose, sign_status_list
from elicence.formats.trustlist import verify_trust_list
from elicence.issuer.lifecycle import Action
from elicence.keys.sm2cert import Sm2Signer
from elicence.verifier import OfflineStatus, Verdict, verify_seal, verify_status_list
from tests.conftest import FOOD, GZ_AMR, NOW, PASSPHRASE, SZ_AMR, TH_CIVIL, Clock, food_permit
from tests.tools import tool


def _gz() -> Client:
    return Client("c-gz", GZ_AMR, Role.DEPARTMENT, GZ_AMR)


def _admin() -> Client:
    return Client("c-admin", "admin", Role.ADMIN, None)


@pytest.fixture
def sm2_service(service: Elicence) -> Elicence:
    """The demo service with the food business permit moved to SM2 (its keys made by import)."""
    catalogue = service.catalogue()
    food = dataclasses.replace(catalogue.licence_types[FOOD], algorithm=SignatureAlgorithm.SM2)
    moved = dataclasses.replace(catalogue, licence_types={**catalogue.licence_types, FOOD: food})
    service.import_catalogue(moved)
    return service


def _cose(seal: str) -> list[object]:
    obj = cbor2.loads(zlib.decompress(b32decode(seal[len(PREFIX) :])))
    assert obj.tag == 18
    return list(obj.value)


def _sm2_point(cert_der: bytes) -> bytes:
    """The SM2 key of a certificate, read with asn1crypto alone (not elicence's reader)."""
    spki = asn1_x509.Certificate.load(cert_der)["tbs_certificate"]["subject_public_key_info"]
    assert spki["algorithm"]["algorithm"].dotted == "1.2.840.10045.2.1"  # id-ecPublicKey
    assert spki["algorithm"]["parameters"].chosen.dotted == "1.2.156.10197.1.301"  # SM2 curve
    point = bytes(spki["public_key"].native)
    assert point[0] == 4 and len(point) == 65
    return point[1:]


def test_the_catalogue_says_sm2_and_refuses_an_unknown_algorithm(demo_catalogue: object) -> None:
    text = DEMO_CATALOGUE.read_text(encoding="utf-8")
    marker = f"- code: {FOOD}\n"
    assert marker in text
    indent = text.split(marker)[0].rsplit("\n", 1)[1]
    sm2_text = text.replace(marker, f"{marker}{indent}  algorithm: SM2\n", 1)
    assert parse_catalogue(sm2_text).licence_types[FOOD].algorithm is SignatureAlgorithm.SM2
    assert parse_catalogue(text).licence_types[FOOD].algorithm is SignatureAlgorithm.ES256
    with pytest.raises(CatalogueError) as e:
        parse_catalogue(text.replace(marker, f"{marker}{indent}  algorithm: RSA\n", 1))
    assert "algorithm" in (e.value.field or "") + e.value.message


def test_an_sm2_licence_issues_and_verifies_online_offline_and_as_a_pdf(
    sm2_service: Elicence,
) -> None:
    svc = sm2_service
    signer = svc.signers()[f"{GZ_AMR}:SM2"]
    assert isinstance(signer, Sm2Signer)
    lic = svc.issue(_gz(), food_permit()).licence
    protected, _unprotected, _payload, signature = _cose(lic.seal)
    header = cbor2.loads(protected)
    assert header[1] == ALG_SM2_SM3 == -65537 and header[4] == signer.kid
    assert isinstance(signature, bytes) and len(signature) == 64  # r || s
    assert lic.kid == signer.kid.hex()
    # online
    report = svc.verify(seal=lic.seal, client=None)
    assert report.verdict is Verdict.VALID, report.checks
    assert any("SM2-with-SM3 signature verifies" in c.detail for c in report.checks)
    # offline: the trust list and the three status lists, read from bytes under the pinned root
    trust_list = verify_trust_list(svc.trust_list().signed, root=svc.root_certificate())
    entry = trust_list.entry(signer.kid)
    assert entry is not None and entry.sm2_public_key is not None and entry.public_key is None
    assert entry.licence_types == (FOOD,)  # the SM2 key seals the SM2 types only
    lists = OfflineStatus(
        verify_status_list(svc.status_list(GZ_AMR, str(p)).signed, trust_list) for p in Purpose
    )
    offline = verify_seal(lic.seal, trust_list=trust_list, status=lists, now=NOW)
    assert offline.verdict is Verdict.VALID, offline.checks
    # revoked: the offline lists say so
    svc.change_status(_gz(), lic.identifier, Action.REVOKE, reason="测试注销")
    lists = OfflineStatus(
        verify_status_list(svc.status_list(GZ_AMR, str(p)).signed, trust_list) for p in Purpose
    )
    assert verify_seal(lic.seal, trust_list=trust_list, status=lists, now=NOW).verdict is (
        Verdict.REVOKED
    )


def test_the_pdf_of_an_sm2_licence_is_pades_es256_by_the_same_department(
    sm2_service: Elicence,
) -> None:
    svc = sm2_service
    lic = svc.issue(_gz(), food_permit()).licence
    pdf = svc.licence_pdf(_gz(), lic.identifier)
    report = svc.verify_pdf(pdf, client=None)
    assert report.verdict is Verdict.VALID, report.checks
    details = {str(c.name): c.detail for c in report.checks}
    es256 = svc.signers()[GZ_AMR]
    assert es256.algorithm == "ES256"
    assert es256.kid.hex() in details["pdf_signer_known"]  # PAdES: the department's ES256 key
    assert "SM2-with-SM3 signature verifies" in details["signature"]  # the QR seal: its SM2 key


def test_a_tampered_sm2_seal_is_refused(sm2_service: Elicence) -> None:
    svc = sm2_service
    lic = svc.issue(_gz(), food_permit()).licence
    protected, unprotected, payload, signature = _cose(lic.seal)
    assert isinstance(payload, bytes) and isinstance(signature, bytes)
    claims = cbor2.loads(payload)
    claims[-65537][4] = "另一个公司"  # the holder's name
    forged = [protected, unprotected, cbor2.dumps(claims), signature]
    text = PREFIX + b32encode(zlib.compress(cbor2.dumps(cbor2.CBORTag(18, forged))))
    report = svc.verify(seal=text, client=None)
    assert report.verdict is Verdict.INVALID
    assert any("SM2-with-SM3 signature does not verify" in c.detail for c in report.checks)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    text = PREFIX + b32encode(
        zlib.compress(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, flipped])))
    )
    assert svc.verify(seal=text, client=None).verdict is Verdict.INVALID


@pytest.mark.parametrize("alg", [-8, -35, -65538, 1], ids=["EdDSA", "ES384", "private", "A128"])
def test_an_algorithm_the_verifier_does_not_know_is_unsupported_never_valid(
    sm2_service: Elicence, alg: int
) -> None:
    svc = sm2_service
    signer = svc.signers()[GZ_AMR]  # a genuine key signs a genuine claim under another alg id
    lic = svc.issue(_gz(), food_permit()).licence
    _protected, _unprotected, payload, _signature = _cose(lic.seal)
    assert isinstance(payload, bytes)
    protected = cbor2.dumps({1: alg, 4: signer.kid})
    signature = signer.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
    text = PREFIX + b32encode(
        zlib.compress(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature])))
    )
    # offline (the status lists hold no record to compare, so the algorithm is what decides)
    trust_list = verify_trust_list(svc.trust_list().signed, root=svc.root_certificate())
    lists = OfflineStatus(
        verify_status_list(svc.status_list(GZ_AMR, str(p)).signed, trust_list) for p in Purpose
    )
    report = verify_seal(text, trust_list=trust_list, status=lists, now=NOW)
    assert report.verdict is Verdict.UNSUPPORTED_ALGORITHM
    signature_check = next(c for c in report.checks if c.name == "signature")
    assert not signature_check.passed and str(alg) in signature_check.detail
    # online the registry holds another seal for the identifier, which is graver: never valid
    assert svc.verify(seal=text, client=None).verdict is Verdict.INVALID


def test_the_independent_sm2_implementation_verifies_the_seal_the_service_signed(
    sm2_service: Elicence,
) -> None:
    svc = sm2_service
    lic = svc.issue(_gz(), food_permit()).licence
    protected, _unprotected, payload, signature = _cose(lic.seal)
    assert isinstance(protected, bytes) and isinstance(payload, bytes)
    assert isinstance(signature, bytes)
    trust_list = verify_trust_list(svc.trust_list().signed, root=svc.root_certificate())
    entry = trust_list.entry(cbor2.loads(protected)[4])
    assert entry is not None
    point = _sm2_point(entry.certificate.public_bytes(serialization.Encoding.DER))
    message = cbor2.dumps(["Signature1", protected, b"", payload])  # the COSE Sig_structure
    pure = pure_sm2.CryptSM2(private_key="00" * 32, public_key=point.hex())
    assert pure.verify_with_sm3(signature.hex(), message)  # default user id 1234567812345678
    assert not pure.verify_with_sm3(signature.hex(), message + b"x")


def test_openssl_reads_the_sm2_certificate_and_chains_it_to_the_root(
    sm2_service: Elicence, tmp_path: Path
) -> None:
    svc = sm2_service
    cert = svc.signers()[f"{GZ_AMR}:SM2"].certificate
    pem = serialization.Encoding.PEM
    (tmp_path / "dept.pem").write_bytes(cert.public_bytes(pem))
    (tmp_path / "root.pem").write_bytes(svc.root_certificate().public_bytes(pem))
    openssl = tool("openssl")
    text = subprocess.run(
        [openssl, "x509", "-in", tmp_path / "dept.pem", "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ASN1 OID: SM2" in text and GZ_AMR in text
    verified = subprocess.run(
        [openssl, "verify", "-CAfile", tmp_path / "root.pem", tmp_path / "dept.pem"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr


def test_an_sm2_key_is_not_made_on_a_token_and_rotates_on_its_own(
    sm2_service: Elicence, clock: Clock
) -> None:
    svc = sm2_service
    before = svc.signers()[f"{GZ_AMR}:SM2"].kid
    es256 = svc.signers()[GZ_AMR].kid
    old = svc.issue(_gz(), food_permit()).licence
    store = svc.keystore
    clock.advance(hours=1)
    retired, new = store.rotate(
        GZ_AMR,
        passphrase=PASSPHRASE,
        now=clock(),
        crl_url=None,
        algorithm="SM2",
    )
    assert retired is not None and retired.kid == before.hex() and new.algorithm == "SM2"
    assert svc.signers()[GZ_AMR].kid == es256  # the ES256 key is untouched
    # a seal made before the rotation still verifies; a new one is made by the new key
    assert svc.verify(seal=old.seal, client=None).verdict is Verdict.VALID
    lic = svc.issue(_gz(), food_permit(source_ref="GZ-SM2-2")).licence
    assert lic.kid == new.kid
    with pytest.raises(KeyCustodyError, match="SM2 keys are key files"):
        store.rotate(
            GZ_AMR,
            passphrase=PASSPHRASE,
            now=clock(),
            crl_url=None,
            algorithm="SM2",
            on_token=True,
        )


def test_the_status_lists_of_an_sm2_department_are_signed_with_its_sm2_key(
    sm2_service: Elicence,
) -> None:
    svc = sm2_service
    sm2_signer = svc.signers()[f"{GZ_AMR}:SM2"]
    trust_list = verify_trust_list(svc.trust_list().signed, root=svc.root_certificate())
    signed = svc.status_list(GZ_AMR, "revocation").signed
    header = cbor2.loads(cbor2.loads(signed).value[0])
    assert header[1] == ALG_SM2_SM3 and header[4] == sm2_signer.kid
    assert verify_status_list(signed, trust_list).department == GZ_AMR
    # a department without an SM2 type (the marriage registry) keeps the service's ES256 lists
    other = cbor2.loads(cbor2.loads(svc.status_list(TH_CIVIL, "revocation").signed).value[0])
    assert other[1] == -7
    # the SM2 key of one department cannot sign another department's list
    forged = sign_status_list(
        signer=sm2_signer,
        department=SZ_AMR,
        purpose=Purpose.REVOCATION,
        issued_at=NOW,
        valid_until=NOW + dt.timedelta(days=1),
        size=MIN_BITS,
        indices=(),
        sequence=99,
    )
    with pytest.raises(StatusListError, match="another department"):
        verify_status_list(forged, trust_list)
    # nor can a list signed SM2 with a flipped bit in its signature pass
    obj = cbor2.loads(signed)
    protected, unprotected, payload, signature = obj.value
    bad = cbor2.dumps(
        cbor2.CBORTag(
            18, [protected, unprotected, payload, bytes([signature[0] ^ 1]) + signature[1:]]
        )
    )
    with pytest.raises(StatusListError, match="does not verify"):
        verify_status_list(bad, trust_list)


def test_a_revoked_sm2_key_signs_no_status_list_anyone_accepts(
    sm2_service: Elicence, clock: Clock
) -> None:
    svc = sm2_service
    old = svc.signers()[f"{GZ_AMR}:SM2"]
    lists_before = svc.status_list(GZ_AMR, "revocation").signed
    clock.advance(hours=1)
    revoked, _new, _count = svc.compromise_key(GZ_AMR, since=NOW, kid=old.kid.hex(), actor="test")
    assert revoked.algorithm == "SM2" and revoked.kid == old.kid.hex()
    trust_list = verify_trust_list(svc.trust_list().signed, root=svc.root_certificate())
    with pytest.raises(StatusListError, match="revoked"):
        verify_status_list(lists_before, trust_list)
    assert svc.signers()[f"{GZ_AMR}:SM2"].kid != old.kid


def _unknown_alg_seal(svc: Elicence, alg: int) -> str:
    """A seal of a licence the registry does not hold, signed by a genuine key under ``alg``."""
    signer = svc.signers()[GZ_AMR]
    lic = svc.issue(_gz(), food_permit(source_ref="GZ-ALG-1")).licence
    _protected, _unprotected, payload, _signature = _cose(lic.seal)
    assert isinstance(payload, bytes)
    claims = cbor2.loads(payload)
    ident = parse_identifier(claims[-65537][1])
    claims[-65537][1] = str(dataclasses.replace(ident, serial="0" * 16))  # not in the registry
    payload = cbor2.dumps(claims)
    protected = cbor2.dumps({1: alg, 4: signer.kid})
    signature = signer.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
    return PREFIX + b32encode(
        zlib.compress(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature])))
    )


def _answered_and_recorded(svc: Elicence) -> None:
    report = svc.verify(seal=_unknown_alg_seal(svc, -8), client=None)
    assert report.verdict is Verdict.UNSUPPORTED_ALGORITHM  # graver than not_found
    svc.flush()
    with svc.registry.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT verdict FROM usage_records ORDER BY id DESC LIMIT 1")
        ).scalar_one()
    assert stored == "unsupported_algorithm"


def test_an_unknown_algorithm_is_answered_online_and_recorded(service: Elicence) -> None:
    _answered_and_recorded(service)


@pytest.mark.postgres
def test_an_unknown_algorithm_is_recorded_on_postgresql(pg_service: Elicence) -> None:
    # the verdict column was 16 characters before migration 0010: unsupported_algorithm is 21
    _answered_and_recorded(pg_service)
