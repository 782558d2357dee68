"""SM2 department keys (elicence.keys.sm2cert and the key store): the certificate request and its
proof of possession, the certificate, the key file, the manifest, checked against OpenSSL where
it can say."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from asn1crypto import csr as asn1_csr
from cryptography import x509

from elicence.errors import KeyCustodyError
from elicence.keys import pki, sm2, sm2cert
from elicence.keys.entry import KeyEntry
from elicence.keys.signer import SM2, signer_key
from elicence.keys.store import DepartmentName, KeyStore
from tests.conftest import GZ_AMR, NOW, PASSPHRASE
from tests.tools import tool


@pytest.fixture(scope="module")
def root() -> tuple[object, x509.Certificate]:
    key = pki.new_key()
    return key, pki.make_root(key, name="test root", now=NOW)


def _request(key: sm2.Sm2Key) -> bytes:
    return sm2cert.make_csr(key, pki.subject_name("广州市市场监督管理局", uscc=GZ_AMR))


def test_the_request_is_signed_sm3withsm2_and_openssl_verifies_it(tmp_path: Path) -> None:
    key = sm2.Sm2Key.generate()
    der = _request(key)
    request = asn1_csr.CertificationRequest.load(der)
    assert request["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert sm2cert.csr_public_key(der) == key.public_key
    openssl = tool("openssl")
    (tmp_path / "req.der").write_bytes(der)

    def verify(distid: str) -> str:
        args = ["req", "-inform", "DER", "-in", tmp_path / "req.der", "-verify", "-noout"]
        done = subprocess.run(
            [openssl, *args, "-vfyopt", f"distid:{distid}"],
            check=False,
            capture_output=True,
            text=True,
        )
        return done.stdout + done.stderr  # openssl 3.0 exits 0 either way: read what it says

    assert "verify OK" in verify("1234567812345678")  # GM/T 0009's default user id
    assert "verify failure" in verify("1234567812345679")  # the id is bound into the signature


def test_a_request_whose_signature_does_not_verify_is_not_certified(root: tuple) -> None:  # type: ignore[type-arg]
    key = sm2.Sm2Key.generate()
    other = sm2.Sm2Key.generate()
    request = asn1_csr.CertificationRequest.load(_request(key))
    request["certification_request_info"]["subject_pk_info"] = sm2cert.public_key_info(
        other.public_key
    )  # another key swapped in: no proof that its holder asked
    with pytest.raises(KeyCustodyError, match="does not verify"):
        sm2cert.certify(
            root_key=root[0],
            root=root[1],
            request=request.dump(force=True),
            common_name="x",
            uscc=GZ_AMR,
            now=NOW,
            crl_url=None,
        )
    with pytest.raises(KeyCustodyError, match="malformed"):
        sm2cert.csr_public_key(b"\x30\x03\x02\x01\x00")


def test_the_certificate_holds_the_sm2_key_and_chains_to_the_root(root: tuple) -> None:  # type: ignore[type-arg]
    key = sm2.Sm2Key.generate()
    cert = sm2cert.certify(
        root_key=root[0],
        root=root[1],
        request=_request(key),
        common_name="广州市市场监督管理局",
        uscc=GZ_AMR,
        now=NOW,
        crl_url="https://hall.example.gov.cn/api/v1/crl",
    )
    assert sm2cert.sm2_public_key(cert) == key.public_key
    assert pki.issued_by(cert, root[1]) and pki.uscc_of(cert) == GZ_AMR
    assert cert.not_valid_after_utc == NOW + pki.DEPARTMENT_VALIDITY
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ski == hashlib.sha1(b"\x04" + key.public_key).digest()
    assert sm2cert.sm2_public_key(root[1]) is None  # a P-256 certificate holds no SM2 key
    signer = sm2cert.Sm2Signer(key, cert)
    assert signer.algorithm == SM2 and sm2.verify(key.public_key, b"m", signer.sign(b"m"))
    with pytest.raises(KeyCustodyError, match="does not match"):
        sm2cert.Sm2Signer(sm2.Sm2Key.generate(), cert)
    with pytest.raises(KeyCustodyError, match="ES256 key"):
        signer.sign_der(b"m")  # PAdES is signed with the department's P-256 key


def test_the_key_file_opens_with_its_passphrase_only() -> None:
    key = sm2.Sm2Key.generate()
    blob = sm2cert.seal_sm2_key(key, PASSPHRASE, log2_n=10)
    assert key.private_key not in blob
    assert sm2cert.unseal_sm2_key(blob, PASSPHRASE) == key
    with pytest.raises(KeyCustodyError, match="wrong passphrase"):
        sm2cert.unseal_sm2_key(blob, "another passphrase")


def test_the_store_makes_an_sm2_key_where_the_catalogue_asks_for_one(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", scrypt_log2_n=10)
    created = store.init(
        passphrase=PASSPHRASE,
        departments=[DepartmentName(GZ_AMR, "广州市市场监督管理局", ("ES256", "SM2"))],
        now=NOW,
        crl_url=None,
    )
    assert sorted(e.algorithm for e in created if e.department == GZ_AMR) == ["ES256", "SM2"]
    signers = store.department_signers(PASSPHRASE)
    assert signers[GZ_AMR].algorithm == "ES256"
    assert signers[signer_key(GZ_AMR, SM2)].algorithm == SM2
    assert store.unopenable(PASSPHRASE) == []
    # idempotent: nothing is missing the second time
    again = store.init(
        passphrase=PASSPHRASE,
        departments=[DepartmentName(GZ_AMR, "广州市市场监督管理局", ("ES256", "SM2"))],
        now=NOW,
        crl_url=None,
    )
    assert again == []
    # a damaged SM2 key file names its department, not the file
    sm2_entry = store.active_entry(GZ_AMR, SM2)
    assert sm2_entry is not None
    (store.directory / sm2_entry.key_path).write_bytes(b"damaged")
    assert store.unopenable(PASSPHRASE) == [GZ_AMR]


def test_a_manifest_entry_without_an_algorithm_is_es256_and_an_unknown_one_is_refused(
    tmp_path: Path,
) -> None:
    store = KeyStore(tmp_path / "keys", scrypt_log2_n=10)
    store.init(
        passphrase=PASSPHRASE,
        departments=[DepartmentName(GZ_AMR, "广州市市场监督管理局")],
        now=NOW - dt.timedelta(days=1),
        crl_url=None,
    )
    manifest = store.directory / "manifest.json"
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    for e in raw["certificates"]:
        e.pop("algorithm")  # as written before SM2
    manifest.write_text(json.dumps(raw), encoding="utf-8")
    assert {e.algorithm for e in store.entries()} == {"ES256"}
    assert KeyEntry.from_json(raw["certificates"][0]).algorithm == "ES256"
    raw["certificates"][0]["algorithm"] = "RSA"
    manifest.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(KeyCustodyError, match="unreadable"):
        store.entries()
