"""elicence.keys.store and pki: init, certificates, rotation, custody on disk."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from elicence.errors import KeyCustodyError
from elicence.keys import pki
from elicence.keys.signer import kid_of
from elicence.keys.store import DepartmentName, KeyRole, KeyStatus, KeyStore
from tests.conftest import GZ_AMR, NOW, PASSPHRASE, SZ_AMR, TH_CIVIL

DEPTS = [
    DepartmentName(GZ_AMR, "广州市市场监督管理局"),
    DepartmentName(TH_CIVIL, "广州市天河区民政局"),
]
CRL = "http://127.0.0.1:8000/api/v1/crl"


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    ks = KeyStore(tmp_path / "keys", scrypt_log2_n=10)
    ks.init(passphrase=PASSPHRASE, departments=DEPTS, now=NOW, crl_url=CRL)
    return ks


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage:
    return cert.extensions.get_extension_for_class(x509.KeyUsage).value


# -- init -------------------------------------------------------------------------------------


def test_init_creates_root_service_and_one_key_per_department(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "keys", scrypt_log2_n=10)
    assert not ks.initialised
    created = ks.init(passphrase=PASSPHRASE, departments=DEPTS, now=NOW, crl_url=CRL)
    assert ks.initialised
    assert [e.role for e in created] == [KeyRole.SERVICE, KeyRole.DEPARTMENT, KeyRole.DEPARTMENT]
    assert [e.department for e in created] == [None, GZ_AMR, TH_CIVIL]
    assert all(e.status is KeyStatus.ACTIVE and e.created_at == NOW for e in created)
    assert ks.entries() == created
    assert (tmp_path / "keys" / "root.crt.pem").is_file()


def test_init_again_creates_nothing_and_changes_no_file(store: KeyStore) -> None:
    before = _snapshot(store.directory)
    created = store.init(
        passphrase=PASSPHRASE, departments=DEPTS, now=NOW + dt.timedelta(days=1), crl_url=CRL
    )
    assert created == []
    assert _snapshot(store.directory) == before


def test_init_with_a_new_department_creates_only_its_key(store: KeyStore) -> None:
    before = store.entries()
    created = store.init(
        passphrase=PASSPHRASE,
        departments=[*DEPTS, DepartmentName(SZ_AMR, "深圳市市场监督管理局")],
        now=NOW,
        crl_url=CRL,
    )
    assert [(e.role, e.department) for e in created] == [(KeyRole.DEPARTMENT, SZ_AMR)]
    assert store.entries() == [*before, *created]


def test_init_adding_a_key_with_a_wrong_passphrase_is_refused_and_writes_nothing(
    store: KeyStore,
) -> None:
    before = _snapshot(store.directory)
    with pytest.raises(KeyCustodyError, match="wrong passphrase"):
        store.init(
            passphrase="wrong",
            departments=[*DEPTS, DepartmentName(SZ_AMR, "深圳市市场监督管理局")],
            now=NOW,
            crl_url=CRL,
        )
    assert _snapshot(store.directory) == before


def test_reading_a_missing_store_is_a_key_custody_error(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "none", scrypt_log2_n=10)
    with pytest.raises(KeyCustodyError, match="keys init"):
        ks.entries()
    with pytest.raises(KeyCustodyError, match="keys init"):
        ks.root_certificate()


def test_keys_are_private_files_and_never_pkcs8_in_clear(store: KeyStore) -> None:
    keys = [p for p in store.directory.rglob("*.key")]
    assert len(keys) == 1 + 1 + len(DEPTS)  # root, service, departments
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        content = path.read_bytes()
        assert content.startswith(b"-----BEGIN ELICENCE ENCRYPTED KEY-----")
        assert b"PRIVATE KEY" not in content
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert not list(store.directory.rglob(".tmp-*"))


def test_signer_private_key_is_not_on_disk_in_clear(store: KeyStore) -> None:
    from cryptography.hazmat.primitives import serialization

    signer = store.department_signers(PASSPHRASE)[GZ_AMR]
    der = signer.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    scalar = signer.private_key.private_numbers().private_value.to_bytes(32, "big")
    for path in store.directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert der not in data and scalar not in data, path


# -- certificates -----------------------------------------------------------------------------


def test_root_is_a_self_signed_ca(store: KeyStore) -> None:
    root = store.root_certificate()
    assert root.subject == root.issuer
    assert pki.issued_by(root, root)
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca is True
    ku = _key_usage(root)
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature


def test_department_certificates(store: KeyStore) -> None:
    root = store.root_certificate()
    for entry in store.entries():
        if entry.role is not KeyRole.DEPARTMENT:
            continue
        cert = store.certificate(entry)
        assert kid_of(cert).hex() == entry.kid
        assert pki.issued_by(cert, root)
        assert cert.issuer == root.subject
        ku = _key_usage(cert)
        assert ku.digital_signature and ku.content_commitment  # nonRepudiation
        assert not (ku.key_cert_sign or ku.crl_sign or ku.key_encipherment or ku.key_agreement)
        assert cert.extensions.get_extension_for_class(x509.KeyUsage).critical
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert not pki.has_trust_list_eku(cert)
        assert pki.uscc_of(cert) == entry.department
        attrs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
        assert [a.value for a in attrs] == [entry.department]
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == entry.name
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert isinstance(cert.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
        assert cert.not_valid_before_utc == NOW
        assert cert.not_valid_after_utc == NOW + pki.DEPARTMENT_VALIDITY
        crl = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert crl[0].full_name[0].value == CRL


def test_service_certificate_carries_the_trust_list_eku(store: KeyStore) -> None:
    root = store.root_certificate()
    signer = store.service_signer(PASSPHRASE)
    cert = signer.certificate
    assert pki.issued_by(cert, root)
    assert pki.has_trust_list_eku(cert)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [pki.EKU_TRUST_LIST_SIGNING]
    ku = _key_usage(cert)
    assert ku.digital_signature and not ku.content_commitment
    assert pki.uscc_of(cert) is None


def test_certificate_not_issued_by_another_root(store: KeyStore, tmp_path: Path) -> None:
    other = KeyStore(tmp_path / "other", scrypt_log2_n=10)
    other.init(passphrase=PASSPHRASE, departments=DEPTS, now=NOW, crl_url=None)
    cert = store.certificate(store.active_entry(GZ_AMR))  # type: ignore[arg-type]
    assert not pki.issued_by(cert, other.root_certificate())
    assert pki.issued_by(cert, store.root_certificate())


def test_signers_match_their_certificates(store: KeyStore) -> None:
    signers = store.department_signers(PASSPHRASE)
    assert set(signers) == {GZ_AMR, TH_CIVIL}
    for dept, signer in signers.items():
        entry = store.active_entry(dept)
        assert entry is not None and signer.kid.hex() == entry.kid
        sig = signer.sign(b"message")
        assert len(sig) == 64
        pub = signer.certificate.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        from cryptography.hazmat.primitives import hashes

        pub.verify(signer.sign_der(b"message"), b"message", ec.ECDSA(hashes.SHA256()))


def test_department_signers_with_a_wrong_passphrase_are_refused(store: KeyStore) -> None:
    with pytest.raises(KeyCustodyError, match="wrong passphrase"):
        store.department_signers("wrong")


# -- rotation ---------------------------------------------------------------------------------


def test_rotate_retires_the_old_key_and_adds_an_active_one(store: KeyStore) -> None:
    old = store.active_entry(GZ_AMR)
    assert old is not None
    later = NOW + dt.timedelta(days=10)
    retired, new = store.rotate(GZ_AMR, passphrase=PASSPHRASE, now=later, crl_url=CRL)
    assert retired is not None and retired.kid == old.kid
    assert retired.status is KeyStatus.RETIRED and retired.status_since == later
    assert new.status is KeyStatus.ACTIVE and new.kid != old.kid and new.created_at == later
    assert new.department == GZ_AMR and new.name == old.name
    entries = {e.kid: e for e in store.entries()}
    assert entries[old.kid].status is KeyStatus.RETIRED
    assert entries[new.kid].status is KeyStatus.ACTIVE
    active = [
        e for e in entries.values() if e.department == GZ_AMR and e.status is KeyStatus.ACTIVE
    ]
    assert active == [new]
    assert store.active_entry(GZ_AMR) == new
    assert store.department_signers(PASSPHRASE)[GZ_AMR].kid.hex() == new.kid
    # the retired certificate and key stay on disk; other departments are untouched
    assert store.certificate(entries[old.kid]).not_valid_before_utc == NOW
    assert store.active_entry(TH_CIVIL) == next(
        e for e in store.entries() if e.department == TH_CIVIL
    )
    new_cert = store.certificate(new)
    assert pki.issued_by(new_cert, store.root_certificate())
    assert pki.uscc_of(new_cert) == GZ_AMR


def test_rotate_twice_keeps_one_active_key(store: KeyStore) -> None:
    store.rotate(GZ_AMR, passphrase=PASSPHRASE, now=NOW, crl_url=CRL)
    _, newest = store.rotate(GZ_AMR, passphrase=PASSPHRASE, now=NOW, crl_url=CRL)
    gz = [e for e in store.entries() if e.department == GZ_AMR]
    assert len(gz) == 3
    assert [e for e in gz if e.status is KeyStatus.ACTIVE] == [newest]


def test_rotate_an_unknown_department_is_refused(store: KeyStore) -> None:
    with pytest.raises(KeyCustodyError) as e:
        store.rotate(SZ_AMR, passphrase=PASSPHRASE, now=NOW, crl_url=CRL)
    assert e.value.field == "department"


def test_rotate_with_a_wrong_passphrase_changes_nothing(store: KeyStore) -> None:
    before = _snapshot(store.directory)
    with pytest.raises(KeyCustodyError):
        store.rotate(GZ_AMR, passphrase="wrong", now=NOW, crl_url=CRL)
    assert _snapshot(store.directory) == before


def test_init_after_rotation_creates_nothing(store: KeyStore) -> None:
    store.rotate(GZ_AMR, passphrase=PASSPHRASE, now=NOW, crl_url=CRL)
    assert store.init(passphrase=PASSPHRASE, departments=DEPTS, now=NOW, crl_url=CRL) == []


def test_damaged_manifest_is_a_key_custody_error(store: KeyStore) -> None:
    (store.directory / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(KeyCustodyError, match="manifest"):
        store.entries()


# -- a keyring that opens some keys only (a stock conversion's worker) --------------------------


def test_a_keyring_opens_only_the_keys_asked_for(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elicence.keys.keyring import Keyring

    opened: list[str] = []
    read_key = KeyStore._read_key

    def counting(self: KeyStore, rel: str, passphrase: str) -> ec.EllipticCurvePrivateKey:
        opened.append(rel)
        return read_key(self, rel, passphrase)

    monkeypatch.setattr(KeyStore, "_read_key", counting)
    keyring = Keyring(store, passphrase=PASSPHRASE)
    got = keyring.signers([GZ_AMR, SZ_AMR])  # SZ_AMR holds no key in this store
    assert list(got) == [GZ_AMR]
    active = store.active_entry(GZ_AMR)
    assert active is not None and got[GZ_AMR].kid.hex() == active.kid
    assert len(opened) == 1  # the one key asked for that exists, not TH_CIVIL's
    assert keyring.signers([GZ_AMR])[GZ_AMR] is got[GZ_AMR]
    assert len(opened) == 1  # kept while the store is unchanged
    store.rotate(GZ_AMR, passphrase=PASSPHRASE, now=NOW + dt.timedelta(days=1), crl_url=CRL)
    rotated = keyring.signers([GZ_AMR])[GZ_AMR]
    assert rotated.kid != got[GZ_AMR].kid  # the store changed: opened again, the new key
    assert keyring.signers([TH_CIVIL]).keys() == {TH_CIVIL}
