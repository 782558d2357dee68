"""Keys on a PKCS#11 token (SoftHSM2): the signer, the key ceremony, and everything a department
signs with a token key — seals, PDFs (checked by poppler's pdfsig), status and trust lists —
verified; rotation and compromise on the token; a token that goes away and comes back."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.domain.clients import Client, Role
from elicence.errors import KeyCustodyError, SignerUnavailableError
from elicence.issuer.lifecycle import Action
from elicence.keys import pki
from elicence.keys.pkcs11 import KeyUri, Pkcs11Signer, TokenConfig, is_token_uri, make_csr
from elicence.keys.signer import raw_to_der
from elicence.keys.store import KeyStatus, KeyStore
from elicence.registry import Registry
from elicence.verifier import verify_seal
from elicence.verifier.status import OfflineStatus, verify_status_list
from tests.cli import cli
from tests.conftest import GZ_AMR, NOW, PASSPHRASE, SZ_AMR, Clock, food_permit
from tests.pki import OutsidePki
from tests.softhsm import PIN, SoftHsm
from tests.templates.pdftools import ADMIN, nss_db, pdfsig
from tests.tools import pytest_without_tools

GZ = Client("gz", "广州市市场监督管理局", Role.DEPARTMENT, GZ_AMR)


@pytest.fixture
def hsm_service(
    tmp_path: Path,
    keys_dir: Path,
    clock: Clock,
    demo_catalogue,  # type: ignore[no-untyped-def]
    softhsm: SoftHsm,
) -> Iterator[Elicence]:
    """The service over a copy of the test key store, with the SoftHSM token configured."""
    registry = Registry.from_url(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.upgrade()
    svc = assemble(
        registry=registry,
        keystore=KeyStore(keys_dir, scrypt_log2_n=10, tokens=softhsm.config.tokens()),
        passphrase=PASSPHRASE,
        public_base_url="https://hall.example.gov.cn",
        clock=clock,
    )
    registry.save_catalogue(demo_catalogue, now=clock())
    yield svc
    registry.dispose()


def _token_cert(softhsm: SoftHsm, label: str) -> tuple[Pkcs11Signer, ec.EllipticCurvePrivateKey]:
    """A key pair made on the token, certified by a throwaway root (returned)."""
    tokens = softhsm.config.tokens()
    uri, public = tokens.generate(label)
    outside = OutsidePki.make("test root", now=NOW)
    cert = outside.certify(public, common_name=label)
    return Pkcs11Signer(tokens, uri, cert), outside.key


# -- the signer ---------------------------------------------------------------------------------


def test_a_token_signer_signs_es256_raw_and_der_verified_by_its_certificate(
    softhsm: SoftHsm,
) -> None:
    signer, _ = _token_cert(softhsm, "unit-signer")
    message = "电子证照 seal bytes".encode()
    raw = signer.sign(message)
    assert len(raw) == 64  # COSE's r || s
    public = signer.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(raw_to_der(raw), message, ec.ECDSA(hashes.SHA256()))
    public.verify(signer.sign_der(message), message, ec.ECDSA(hashes.SHA256()))  # CMS, X.509
    assert signer.usable()


def test_the_private_key_on_the_token_is_sensitive_and_not_extractable(softhsm: SoftHsm) -> None:
    import pkcs11

    signer, _ = _token_cert(softhsm, "unit-sensitive")
    lib = pkcs11.lib(softhsm.config.module)
    with lib.get_token(token_label=softhsm.config.token_label).open() as session:
        key = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, id=signer.uri.id)
        assert key[pkcs11.Attribute.SENSITIVE] is True
        assert key[pkcs11.Attribute.EXTRACTABLE] is False


def test_a_token_key_that_does_not_match_its_certificate_fails_closed(softhsm: SoftHsm) -> None:
    signer, _ = _token_cert(softhsm, "unit-mismatch-a")
    other, _ = _token_cert(softhsm, "unit-mismatch-b")
    wrong = Pkcs11Signer(softhsm.config.tokens(), other.uri, signer.certificate)
    with pytest.raises(KeyCustodyError, match="does not match its certificate"):
        wrong.sign(b"x")
    assert not wrong.usable()


def test_a_csr_made_on_the_token_proves_possession(softhsm: SoftHsm) -> None:
    tokens = softhsm.config.tokens()
    uri, public = tokens.generate("unit-csr")
    request = make_csr(tokens, uri, public, pki.subject_name("广州市市场监督管理局", uscc=GZ_AMR))
    assert request.is_signature_valid
    assert request.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]
    assert request.subject.get_attributes_for_oid(pki.ORGANIZATION_IDENTIFIER)[0].value == GZ_AMR


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param(KeyUri("elicence", "gz-2026", b"\x01\x02"), id="plain"),
        pytest.param(KeyUri("省 HSM;1", "a=b/c%d", bytes(range(8))), id="reserved-characters"),
        pytest.param(KeyUri("t", "", b"\xff"), id="empty-label"),
    ],
)
def test_a_key_uri_round_trips(uri: KeyUri) -> None:
    text = str(uri)
    assert is_token_uri(text)
    assert KeyUri.parse(text) == uri


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        pytest.param("file:keys/a.key", "not a PKCS#11 URI", id="not-pkcs11"),
        pytest.param("pkcs11:token=a;object=b", "lacks its id", id="no-id"),
        pytest.param("pkcs11:token=a;objectb;id=%01", "lacks '='", id="no-equals"),
    ],
)
def test_a_bad_key_uri_is_refused(text: str, rule: str) -> None:
    with pytest.raises(KeyCustodyError, match=rule):
        KeyUri.parse(text)


def test_the_pin_is_in_no_repr() -> None:
    config = TokenConfig(module="/usr/lib/x.so", token_label="t", pin="secret-pin-4711")
    assert "secret-pin-4711" not in repr(config)


# -- the key ceremony and what the department signs on the token --------------------------------


def test_moving_a_department_to_the_token_keeps_licences_issued_before_the_move_valid(
    hsm_service: Elicence, clock: Clock, softhsm: SoftHsm
) -> None:
    before = hsm_service.licences.issue(GZ, food_permit("HSM-1")).licence
    clock.advance(hours=1)
    retired, new = hsm_service.keys.enrol_token(GZ_AMR)
    assert retired is not None and retired.status is KeyStatus.RETIRED
    assert retired.kid == before.kid
    assert (
        is_token_uri(new.key_path) and not (hsm_service.keystore.directory / new.key_path).exists()
    )
    signer = hsm_service.keys.signers()[GZ_AMR]
    assert isinstance(signer, Pkcs11Signer)
    # the certificate is on the token beside its key, and in the store (hence the trust list)
    stored = hsm_service.keystore.certificate(new)
    assert softhsm.config.tokens().certificate(KeyUri.parse(new.key_path)) == stored
    assert pki.issued_by(stored, hsm_service.keys.root_certificate())
    clock.advance(hours=1)
    after = hsm_service.licences.issue(GZ, food_permit("HSM-2")).licence
    assert after.kid == new.kid != before.kid
    assert hsm_service.verification.verify(seal=before.seal, client=None).verdict == "valid"
    assert hsm_service.verification.verify(seal=after.seal, client=None).verdict == "valid"
    tampered = after.seal[:-6] + ("A" if after.seal[-6] != "A" else "B") + after.seal[-5:]
    assert hsm_service.verification.verify(seal=tampered, client=None).verdict != "valid"
    entry = hsm_service.keys.trust_list().entry(bytes.fromhex(before.kid))
    assert entry is not None and entry.status == "retired"


def test_status_and_trust_lists_signed_on_the_token_verify_offline(
    hsm_service: Elicence, clock: Clock
) -> None:
    hsm_service.keys.enrol_token(GZ_AMR)
    retired, service_key = hsm_service.keys.enrol_token(None)  # the service key too
    assert retired is not None and is_token_uri(service_key.key_path)
    kept = hsm_service.licences.issue(GZ, food_permit("HSM-SL1")).licence
    gone = hsm_service.licences.issue(GZ, food_permit("HSM-SL2")).licence
    hsm_service.licences.change_status(GZ, gone.identifier, Action.REVOKE, reason="撤销 test")
    clock.advance(minutes=1)
    tl = hsm_service.keys.trust_list()
    protected = cbor2.loads(cbor2.loads(tl.signed).value[0])
    assert protected[4] == bytes.fromhex(service_key.kid)  # signed by the token's service key
    lists = [verify_status_list(sl.signed, tl) for sl in hsm_service.keys.status_lists()]
    assert {sl.department for sl in lists} >= {GZ_AMR, SZ_AMR}
    offline = OfflineStatus(lists)
    assert verify_seal(kept.seal, trust_list=tl, status=offline, now=clock()).verdict == "valid"
    assert verify_seal(gone.seal, trust_list=tl, status=offline, now=clock()).verdict == "revoked"


def test_a_pdf_signed_on_the_token_is_valid_and_trusted_for_pdfsig(
    hsm_service: Elicence, tmp_path: Path
) -> None:
    hsm_service.keys.enrol_token(GZ_AMR)
    lic = hsm_service.licences.issue(GZ, food_permit("HSM-PDF")).licence
    path = tmp_path / "licence.pdf"
    path.write_bytes(hsm_service.licences.pdf(ADMIN, lic.identifier))
    out = pdfsig(path, nss_db(tmp_path / "nss", hsm_service))
    assert "Signature is Valid." in out, out
    assert "Certificate is Trusted." in out, out
    assert "Total document signed" in out, out


def test_rotation_and_compromise_of_a_token_key_stay_on_the_token(
    hsm_service: Elicence, clock: Clock
) -> None:
    _, first = hsm_service.keys.enrol_token(GZ_AMR)
    early = hsm_service.licences.issue(GZ, food_permit("HSM-R1")).licence
    clock.advance(hours=1)
    retired, rotated = hsm_service.keys.rotate(GZ_AMR)
    assert retired is not None and retired.kid == first.kid
    assert is_token_uri(rotated.key_path) and rotated.key_path != first.key_path
    clock.advance(hours=1)
    late = hsm_service.licences.issue(GZ, food_permit("HSM-R2")).licence
    assert late.kid == rotated.kid
    clock.advance(hours=1)
    revoked, replacement, resealed = hsm_service.keys.compromise(
        GZ_AMR, since=late.issued_at - dt.timedelta(minutes=1)
    )
    assert revoked.kid == rotated.kid and replacement is not None
    assert is_token_uri(replacement.key_path)
    assert resealed == 1  # the licence the compromised token key sealed, re-sealed on the token
    assert hsm_service.verification.verify(seal=early.seal, client=None).verdict == "valid"
    assert hsm_service.verification.verify(seal=late.seal, client=None).verdict == "untrusted"
    again = hsm_service.verification.verify(identifier=late.identifier, client=None)
    assert again.verdict == "valid"  # its re-sealed seal, by the replacement on the token
    fresh = hsm_service.licences.issue(GZ, food_permit("HSM-R3")).licence
    assert fresh.kid == replacement.kid
    assert hsm_service.verification.verify(seal=fresh.seal, client=None).verdict == "valid"


def test_enrolment_without_a_token_configured_is_refused(service: Elicence) -> None:
    with pytest.raises(KeyCustodyError, match="no PKCS#11 token is configured"):
        service.keys.enrol_token(GZ_AMR)


def test_the_enrol_token_command_runs_the_ceremony_with_the_pin_from_a_file(
    hsm_service: Elicence, keys_dir: Path, softhsm: SoftHsm, tmp_path: Path
) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n", encoding="utf-8")
    env = {
        "ELICENCE_DATA_DIR": str(keys_dir.parent),
        "ELICENCE_DATABASE_URL": f"sqlite:///{hsm_service.registry.engine.url.database}",
        "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
        "ELICENCE_PKCS11_MODULE": softhsm.config.module,
        "ELICENCE_PKCS11_TOKEN": softhsm.config.token_label,
        "ELICENCE_PKCS11_PIN_FILE": str(pin_file),
    }
    both = cli(None, "keys", "enrol-token", GZ_AMR, "--service", **env)
    assert both.exit_code == 2, both.output
    ok = cli(None, "keys", "enrol-token", GZ_AMR, **env)
    assert ok.exit_code == 0, ok.output
    assert "retired" in ok.stdout and "on the token" in ok.stdout
    assert PIN not in ok.output
    listed = cli(None, "keys", "list", **env)
    assert "[token]" in listed.stdout and softhsm.config.module not in listed.stdout
    no_pin = {k: v for k, v in env.items() if k != "ELICENCE_PKCS11_PIN_FILE"}
    refused = cli(None, "keys", "enrol-token", GZ_AMR, **no_pin)
    assert refused.exit_code == 3 and "PIN" in refused.output


# -- a token that goes away ---------------------------------------------------------------------


def test_a_token_that_goes_away_answers_503_and_the_service_recovers_without_a_restart(
    hsm_service: Elicence, softhsm: SoftHsm
) -> None:
    hsm_service.keys.enrol_token(GZ_AMR)
    key = hsm_service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    auth = {"Authorization": f"Bearer {key}"}
    sz_key = hsm_service.clients.add(name="sz", role=Role.DEPARTMENT, department=SZ_AMR).api_key
    with TestClient(create_app(hsm_service), raise_server_exceptions=False) as api:
        assert (
            api.post("/api/v1/licences", json=food_permit("GONE-1"), headers=auth).status_code
            == 201
        )
        assert api.get("/healthz").json()["status"] == "ok"
        softhsm.hide()
        try:
            r = api.post("/api/v1/licences", json=food_permit("GONE-2"), headers=auth)
            assert r.status_code == 503, r.text
            error = r.json()["error"]
            assert error["code"] == "signer_unavailable"
            for secret in (softhsm.config.module, softhsm.config.token_label, "slot", PIN):
                assert secret not in r.text
            other = {"Authorization": f"Bearer {sz_key}"}  # a department on a key file goes on
            sz = api.post("/api/v1/licences", json=food_permit("SZ-ON"), headers=other)
            assert sz.status_code == 201, sz.text
            health = api.get("/healthz").json()
            assert health["status"] == "degraded"
            assert health["signers_unavailable"] == [GZ_AMR]
            assert softhsm.config.token_label not in str(health)
        finally:
            softhsm.restore()
        r = api.post("/api/v1/licences", json=food_permit("GONE-2"), headers=auth)
        assert r.status_code == 201, r.text  # nothing was stored while the token was away
        assert api.get("/healthz").json() == {
            "status": "ok",
            "catalogue_version": hsm_service.catalogue_version(),
        }
        seal = r.json()["seal"]
        assert hsm_service.verification.verify(seal=seal, client=None).verdict == "valid"


def test_health_with_a_token_configured_and_no_key_store_yet_is_ok(
    tmp_path: Path, softhsm: SoftHsm, clock: Clock
) -> None:
    registry = Registry.from_url(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.upgrade()
    svc = assemble(
        registry=registry,
        keystore=KeyStore(tmp_path / "no-keys", tokens=softhsm.config.tokens()),
        passphrase=PASSPHRASE,
        public_base_url="https://hall.example.gov.cn",
        clock=clock,
    )
    assert svc.health() == {"status": "ok", "catalogue_version": None}
    registry.dispose()


def test_a_token_signer_raises_signer_unavailable_while_the_module_fails(
    softhsm: SoftHsm,
) -> None:
    signer, _ = _token_cert(softhsm, "unit-gone")
    softhsm.hide()
    try:
        with pytest.raises(SignerUnavailableError) as caught:
            signer.sign(b"x")
        assert softhsm.config.module not in caught.value.message
        assert not signer.usable()
    finally:
        softhsm.restore()
    assert signer.usable()
    digest = hashlib.sha256(b"x").digest()
    assert len(softhsm.config.tokens().sign_digest(signer.uri, digest)) == 64
    assert isinstance(signer.certificate, x509.Certificate)
    assert signer.certificate.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [
        pytest.param("true", "1 error", id="ci-fails"),
        pytest.param("", "1 skipped", id="local-skips"),
    ],
)
def test_without_softhsm_the_token_tests_fail_on_ci_and_skip_elsewhere(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    """The fixture's rule, run in a child pytest whose PATH has no softhsm2-util."""
    result = pytest_without_tools(
        [f"{__file__}::test_a_csr_made_on_the_token_proves_possession"],
        path=tmp_path,  # no softhsm2-util here
        ci=ci,
        unset={"SOFTHSM2_CONF"},
    )
    assert outcome in result.stdout, result.stdout + result.stderr
    if ci:
        assert result.returncode != 0 and "required on CI: SoftHSM2 is missing" in result.stdout
