"""Key rotation keeps old seals valid; a compromised key is untrusted for every seal, its genuine
licences are re-sealed under a new key, and seals forged with the stolen key verify nowhere
(ADR 0011)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from elicence.app.service import Elicence
from elicence.domain.clients import Role
from elicence.domain.codes import LicenceIdentifier, new_serial
from elicence.errors import KeyCustodyError
from elicence.formats.seal import decode_seal, seal_licence
from elicence.keys.signer import Signer
from elicence.verifier import OfflineVerifier
from tests.cli import cli
from tests.conftest import GZ_AMR, PASSPHRASE, Clock, food_permit


def _client(service: Elicence):  # type: ignore[no-untyped-def]
    return service.clients.authenticate(
        service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    )


def _offline(service: Elicence) -> OfflineVerifier:
    """A hall offline with the service's current trust list and status lists."""
    from cryptography.hazmat.primitives import serialization

    root = service.keystore.root_certificate().public_bytes(serialization.Encoding.PEM)
    return OfflineVerifier.from_bytes(
        trust_list=service.keys.trust_list().signed,
        root_pem=root,
        status_lists=[
            (f"{sl.department}.{sl.purpose}", sl.signed) for sl in service.keys.status_lists()
        ],
    )


def test_rotation_retires_the_old_key_and_its_seals_stay_valid(
    service: Elicence, clock: Clock
) -> None:
    client = _client(service)
    before = service.licences.issue(client, food_permit("ROT-1")).licence
    clock.advance(hours=1)
    retired, new = service.keys.rotate(GZ_AMR)
    assert retired is not None and str(retired.status) == "retired"
    clock.advance(hours=1)
    after = service.licences.issue(client, food_permit("ROT-2")).licence
    assert after.kid == new.kid != before.kid
    assert service.verification.verify(seal=before.seal, client=None).verdict == "valid"
    assert service.verification.verify(seal=after.seal, client=None).verdict == "valid"
    entry = service.keys.trust_list().entry(bytes.fromhex(before.kid))
    assert entry is not None and entry.status == "retired"


def test_a_compromised_key_is_untrusted_and_its_licences_are_resealed(
    service: Elicence, clock: Clock
) -> None:
    client = _client(service)
    early = service.licences.issue(client, food_permit("CMP-1")).licence
    clock.advance(hours=2)
    late = service.licences.issue(client, food_permit("CMP-2")).licence
    assert early.kid == late.kid
    clock.advance(hours=1)
    revoked, new, resealed = service.keys.compromise(
        GZ_AMR, since=early.issued_at + dt.timedelta(hours=1)
    )
    assert new is not None and str(revoked.status) == "revoked" and resealed == 2

    for old in (early, late):
        report = service.verification.verify(seal=old.seal, client=None)  # the old printed code
        assert report.verdict == "untrusted"
        failed = {str(c.name): c.detail for c in report.checks if not c.passed}
        assert "compromised" in failed["signer_valid_at_issuance"]
        assert "newer seal" in failed["registry_record"]
        held = service.registry.licence(old.identifier)
        assert held is not None and held.kid == new.kid and held.seal != old.seal
        # same identifier, content and status index; only iat and the signature changed
        before, after = decode_seal(old.seal).claims, decode_seal(held.seal).claims
        assert after.licence == before.licence and after.issued_at == int(clock.now.timestamp())
        assert (
            service.verification.verify(identifier=old.identifier, client=None).verdict == "valid"
        )
        assert service.verification.verify(seal=held.seal, client=None).verdict == "valid"
        assert _offline(service).verify(held.seal, now=clock.now).verdict == "valid"
        assert _offline(service).verify(old.seal, now=clock.now).verdict == "untrusted"
    entry = service.keys.trust_list().entry(bytes.fromhex(late.kid))
    assert entry is not None and entry.status == "revoked"
    assert entry.status_since <= entry.not_before  # an older verifier's rule refuses all too
    kinds = [e.kind for e in service.registry.events(after=0, limit=100)]
    assert kinds == ["issued", "issued", "resealed", "resealed"]
    assert service.log.audit().ok
    fresh = service.licences.issue(client, food_permit("CMP-3")).licence  # the department goes on
    assert fresh.kid == new.kid
    assert service.verification.verify(seal=fresh.seal, client=None).verdict == "valid"


def test_compromising_a_retired_key_reseals_under_the_active_one(
    service: Elicence, clock: Clock
) -> None:
    client = _client(service)
    lic = service.licences.issue(client, food_permit("CMP-R")).licence
    clock.advance(hours=1)
    retired, active = service.keys.rotate(GZ_AMR)
    assert retired is not None
    clock.advance(hours=5)
    revoked, new, resealed = service.keys.compromise(
        GZ_AMR, since=clock.now - dt.timedelta(hours=1), kid=lic.kid
    )
    assert new is None and resealed == 1
    assert revoked.status_since == retired.status_since  # the earlier of the two
    assert service.verification.verify(seal=lic.seal, client=None).verdict == "untrusted"
    held = service.registry.licence(lic.identifier)
    assert held is not None and held.kid == active.kid
    assert service.verification.verify(identifier=lic.identifier, client=None).verdict == "valid"


def test_resealing_again_finds_nothing_left_and_drops_kept_pdfs(
    service: Elicence, clock: Clock
) -> None:
    client = _client(service)
    lic = service.licences.issue(client, food_permit("CMP-D")).licence
    service.registry.keep_document(lic.identifier, b"%PDF-old", now=clock.now)
    clock.advance(hours=1)
    revoked, _new, resealed = service.keys.compromise(GZ_AMR, since=lic.issued_at)
    assert resealed == 1
    assert service.registry.document(lic.identifier) is None  # made again with the new seal
    _r, again, resealed_again = service.keys.compromise(
        GZ_AMR, since=lic.issued_at, kid=revoked.kid
    )
    assert again is None and resealed_again == 0


def test_compromise_refuses_bad_input(service: Elicence, clock: Clock) -> None:
    with pytest.raises(KeyCustodyError, match="future"):
        service.keys.compromise(GZ_AMR, since=clock.now + dt.timedelta(minutes=1))
    with pytest.raises(KeyCustodyError, match="no key 00"):
        service.keys.compromise(GZ_AMR, since=clock.now, kid="0011223344556677")


def test_keys_compromise_command(service: Elicence, keys_dir: Path) -> None:
    db = service.registry.engine.url.database
    env = {
        "ELICENCE_DATA_DIR": str(keys_dir.parent),
        "ELICENCE_DATABASE_URL": f"sqlite:///{db}",
        "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
    }
    bad = cli(None, "keys", "compromise", GZ_AMR, "--since", "2026-11-28T10:00", **env)
    assert bad.exit_code == 2 and "time zone" in bad.stderr
    ok = cli(None, "keys", "compromise", GZ_AMR, "--since", "2020-01-01T00:00:00+08:00", **env)
    assert ok.exit_code == 0, ok.output
    assert "revoked" in ok.stdout and "active" in ok.stdout and "re-sealed 0" in ok.stdout


def test_the_crl_lists_a_compromised_certificate_but_not_a_retired_one(
    service: Elicence, clock: Clock
) -> None:
    """Issue 3's CRL (signed by the root, served at /api/v1/crl) names the revoked certificate."""
    from cryptography import x509

    client = _client(service)
    lic = service.licences.issue(client, food_permit("CRL-1")).licence
    old_cert = service.keystore.certificate(
        next(e for e in service.keystore.entries() if e.kid == lic.kid)
    )
    clock.advance(hours=1)
    retired, _new = service.keys.rotate(GZ_AMR)  # a retired key is not revoked
    assert retired is not None
    crl = x509.load_der_x509_crl(service.keystore.crl() or b"")
    assert crl.get_revoked_certificate_by_serial_number(old_cert.serial_number) is None

    clock.advance(hours=1)
    service.keys.compromise(GZ_AMR, since=lic.issued_at, kid=lic.kid)
    crl = x509.load_der_x509_crl(service.keystore.crl() or b"")
    assert crl.is_signature_valid(service.keystore.root_certificate().public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(old_cert.serial_number)
    assert entry is not None


# -- a stolen key forges nothing (issue 16 §2) ----------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_service(request: pytest.FixtureRequest) -> Elicence:
    return request.getfixturevalue("service" if request.param == "sqlite" else "pg_service")  # type: ignore[no-any-return]


def _forge(
    stolen: Signer,
    genuine: str,
    *,
    iat: dt.datetime,
    index: int | None = None,
    new_identity: bool = False,
    holder_name: str | None = None,
) -> str:
    """A seal made with the stolen key: the genuine seal's claims, changed as asked."""
    claims = decode_seal(genuine).claims
    lic = claims.licence
    if new_identity:
        ident = str(LicenceIdentifier(lic.type_code, claims.issuer, new_serial(), 1))
        lic = dataclasses.replace(lic, identifier=ident, licence_number="JY19999999999999")
    if index is not None:
        lic = dataclasses.replace(lic, status_index=index)
    if holder_name is not None:
        lic = dataclasses.replace(lic, holder_name=holder_name)
    forged = dataclasses.replace(claims, issued_at=int(iat.timestamp()), licence=lic)
    return seal_licence(forged, stolen)


def test_seals_forged_with_the_stolen_key_verify_nowhere(
    any_service: Elicence, clock: Clock
) -> None:
    service = any_service
    client = _client(service)
    genuine = service.licences.issue(client, food_permit("FORGE-1")).licence
    stolen = service.keystore.department_signers(PASSPHRASE)[GZ_AMR]
    clock.advance(hours=2)
    since = clock.now - dt.timedelta(hours=1)  # the key was stolen an hour ago
    backdated = since - dt.timedelta(seconds=5)
    not_before = stolen.certificate.not_valid_before_utc
    forgeries = {
        # a new licence, dated T - 5 s, with a status index the department never issued
        "backdated, unissued index": _forge(
            stolen, genuine.seal, iat=backdated, index=99_999, new_identity=True
        ),
        # the genuine licence's identifier, content and index, dated T - 5 s
        "genuine copy, backdated": _forge(stolen, genuine.seal, iat=backdated),
        # a genuine index under another holder
        "genuine index, other holder": _forge(
            stolen, genuine.seal, iat=backdated, holder_name="冒名顶替有限公司"
        ),
        "dated at the key's first second": _forge(stolen, genuine.seal, iat=not_before),
        "dated after the compromise": _forge(stolen, genuine.seal, iat=clock.now),
    }
    before = _offline(service)  # the attack is real: before the compromise, all verify
    assert {n: before.verify(f, now=clock.now).verdict for n, f in forgeries.items()} == {
        n: "valid" for n in forgeries
    }

    service.keys.compromise(GZ_AMR, since=since)
    clock.advance(minutes=1)
    after = _offline(service)  # the current trust list and status lists
    for name, forged in forgeries.items():
        offline = after.verify(forged, now=clock.now)
        assert offline.verdict == "untrusted", name
        assert offline.status_checked, name
        online = service.verification.verify(seal=forged, client=None)
        assert online.verdict in {"untrusted", "not_found"}, name
    held = service.registry.licence(genuine.identifier)
    assert held is not None
    assert after.verify(held.seal, now=clock.now).verdict == "valid"  # the re-sealed genuine one
    assert service.verification.verify(seal=held.seal, client=None).verdict == "valid"
