"""Key rotation keeps old seals valid; a compromise makes seals from its time on untrusted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from elicence.app.service import Elicence
from elicence.cli import app
from elicence.domain.clients import Role
from elicence.errors import KeyCustodyError
from tests.conftest import GZ_AMR, PASSPHRASE, Clock, food_permit


def _client(service: Elicence):  # type: ignore[no-untyped-def]
    return service.authenticate(
        service.add_client(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    )


def test_rotation_retires_the_old_key_and_its_seals_stay_valid(
    service: Elicence, clock: Clock
) -> None:
    client = _client(service)
    before = service.issue(client, food_permit("ROT-1")).licence
    clock.advance(hours=1)
    retired, new = service.rotate_key(GZ_AMR)
    assert retired is not None and str(retired.status) == "retired"
    clock.advance(hours=1)
    after = service.issue(client, food_permit("ROT-2")).licence
    assert after.kid == new.kid != before.kid
    assert service.verify(seal=before.seal, client=None).verdict == "valid"
    assert service.verify(seal=after.seal, client=None).verdict == "valid"
    entry = service.trust_list().entry(bytes.fromhex(before.kid))
    assert entry is not None and entry.status == "retired"


def test_a_compromised_key_untrusts_seals_from_that_time_on(
    service: Elicence, clock: Clock
) -> None:
    client = _client(service)
    early = service.issue(client, food_permit("CMP-1")).licence
    clock.advance(hours=2)
    late = service.issue(client, food_permit("CMP-2")).licence
    assert early.kid == late.kid
    clock.advance(hours=1)
    revoked, new = service.compromise_key(GZ_AMR, since=early.issued_at + dt.timedelta(hours=1))
    assert new is not None and str(revoked.status) == "revoked"

    assert service.verify(seal=early.seal, client=None).verdict == "valid"
    report = service.verify(seal=late.seal, client=None)
    assert report.verdict == "untrusted"
    failed = next(c for c in report.checks if not c.passed)
    assert failed.name == "signer_valid_at_issuance" and "revoked since" in failed.detail
    entry = service.trust_list().entry(bytes.fromhex(late.kid))
    assert entry is not None and entry.status == "revoked"
    fresh = service.issue(client, food_permit("CMP-3")).licence  # the department goes on
    assert fresh.kid == new.kid
    assert service.verify(seal=fresh.seal, client=None).verdict == "valid"


def test_compromising_a_retired_key_never_trusts_more(service: Elicence, clock: Clock) -> None:
    client = _client(service)
    lic = service.issue(client, food_permit("CMP-R")).licence
    clock.advance(hours=1)
    retired, _ = service.rotate_key(GZ_AMR)
    assert retired is not None
    clock.advance(hours=5)
    revoked, new = service.compromise_key(
        GZ_AMR, since=clock.now - dt.timedelta(hours=1), kid=lic.kid
    )
    assert new is None
    assert revoked.status_since == retired.status_since  # the earlier of the two
    assert service.verify(seal=lic.seal, client=None).verdict == "valid"


def test_compromise_refuses_bad_input(service: Elicence, clock: Clock) -> None:
    with pytest.raises(KeyCustodyError, match="future"):
        service.compromise_key(GZ_AMR, since=clock.now + dt.timedelta(minutes=1))
    with pytest.raises(KeyCustodyError, match="no key 00"):
        service.compromise_key(GZ_AMR, since=clock.now, kid="0011223344556677")


def test_keys_compromise_command(service: Elicence, keys_dir: Path) -> None:
    db = service.registry.engine.url.database
    env = {
        "ELICENCE_DATA_DIR": str(keys_dir.parent),
        "ELICENCE_DATABASE_URL": f"sqlite:///{db}",
        "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
    }
    runner = CliRunner()
    bad = runner.invoke(app, ["keys", "compromise", GZ_AMR, "--since", "2026-11-28T10:00"], env=env)
    assert bad.exit_code == 2 and "time zone" in bad.stderr
    ok = runner.invoke(
        app, ["keys", "compromise", GZ_AMR, "--since", "2020-01-01T00:00:00+08:00"], env=env
    )
    assert ok.exit_code == 0, ok.output
    assert "revoked" in ok.stdout and "active" in ok.stdout


def test_the_crl_lists_a_compromised_certificate_but_not_a_retired_one(
    service: Elicence, clock: Clock
) -> None:
    """Issue 3's CRL (signed by the root, served at /api/v1/crl) names the revoked certificate."""
    from cryptography import x509

    client = _client(service)
    lic = service.issue(client, food_permit("CRL-1")).licence
    old_cert = service.keystore.certificate(
        next(e for e in service.keystore.entries() if e.kid == lic.kid)
    )
    clock.advance(hours=1)
    retired, _new = service.rotate_key(GZ_AMR)  # a retired key is not revoked
    assert retired is not None
    crl = x509.load_der_x509_crl(service.keystore.crl() or b"")
    assert crl.get_revoked_certificate_by_serial_number(old_cert.serial_number) is None

    clock.advance(hours=1)
    service.compromise_key(GZ_AMR, since=lic.issued_at, kid=lic.kid)
    crl = x509.load_der_x509_crl(service.keystore.crl() or b"")
    assert crl.is_signature_valid(service.keystore.root_certificate().public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(old_cert.serial_number)
    assert entry is not None
