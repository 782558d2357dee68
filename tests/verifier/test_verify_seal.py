"""elicence.verifier.verify_seal: every verdict, offline (trust list only) and online (registry)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.domain.codes import LicenceIdentifier
from elicence.errors import SealError
from elicence.formats.seal import SealClaims, cose_bytes, decode_seal, expiry_instant, seal_licence
from elicence.formats.trustlist import TrustList
from elicence.keys.signer import Signer, SoftwareSigner
from elicence.verifier import (
    RegistryRecord,
    UnsafeSkipStatusCheck,
    Verdict,
    VerificationReport,
    verify_seal,
)
from tests.conftest import (
    FOOD,
    GZ_AMR,
    MARRIAGE,
    NOW,
    PASSPHRASE,
    SZ_AMR,
    TH_CIVIL,
    Clock,
    food_permit,
    marriage,
)
from tests.pki import OutsidePki

CRYPTO_CHECKS = {
    "decode",
    "trust_list_current",
    "signer_known",
    "signer_chain",
    "signer_valid_at_issuance",
    "signature",
    "issuer_consistent",
    "issuer_authorised",
    "validity_dates",
}
STATUS_CHECKS = {"registry_record", "registry_status"}
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _client(dept: str) -> Client:
    return Client(f"c-{dept}", dept, Role.DEPARTMENT, dept)


def _issue(service: Elicence, body: dict[str, object] | None = None, dept: str = GZ_AMR) -> str:
    return service.licences.issue(_client(dept), body or food_permit()).licence.seal


def _check(report: VerificationReport, name: str):  # type: ignore[no-untyped-def]
    found = [c for c in report.checks if c.name == name]
    assert len(found) == 1, f"check {name} ran {len(found)} times"
    return found[0]


def _assert_consistent(report: VerificationReport) -> None:
    """The verdict is never valid when a check failed, and valid needs every check to run."""
    names = [c.name for c in report.checks]
    assert len(names) == len(set(names)), "a check ran twice"
    failed = [c for c in report.checks if not c.passed]
    if failed:
        assert report.verdict is not Verdict.VALID
        assert report.verdict is failed[0].verdict_if_failed
        assert not report.valid
    if report.verdict is Verdict.VALID:
        required = CRYPTO_CHECKS | (STATUS_CHECKS if report.status_checked else set())
        assert set(names) == required
        assert report.valid


def _offline(
    service: Elicence, seal: str, now: dt.datetime | None = None, tl: TrustList | None = None
) -> VerificationReport:
    report = verify_seal(
        seal,
        trust_list=tl or service.keys.trust_list(),
        status=UnsafeSkipStatusCheck,
        now=now or service.clock(),
    )
    _assert_consistent(report)
    assert report.status_checked is False
    return report


def _online(service: Elicence, seal: str, now: dt.datetime | None = None) -> VerificationReport:
    report = verify_seal(
        seal,
        trust_list=service.keys.trust_list(),
        status=service.registry,
        now=now or service.clock(),
    )
    _assert_consistent(report)
    assert report.status_checked is True
    return report


def _failed(report: VerificationReport) -> str:
    return next(c.name for c in report.checks if not c.passed)


def _reseal(seal: str, signer: Signer, **changes: object) -> str:
    """The claims of ``seal``, changed, signed again by ``signer``."""
    claims = decode_seal(seal).claims
    lic_changes = {k: changes.pop(k) for k in list(changes) if k in SealLicenceFields}
    lic = dataclasses.replace(claims.licence, **lic_changes)  # type: ignore[arg-type]
    return seal_licence(dataclasses.replace(claims, licence=lic, **changes), signer)  # type: ignore[arg-type]


SealLicenceFields = {
    "identifier",
    "type_code",
    "licence_number",
    "holder_name",
    "holder_id",
    "holder_id_type",
    "valid_from",
    "valid_until",
    "version",
    "data",
}


def _outsider() -> SoftwareSigner:
    """A P-256 key with a self-signed certificate naming GZ_AMR: not in any trust list."""
    outside = OutsidePki.make("elicence Root CA", now=NOW - dt.timedelta(days=30))
    return outside.signer(key=outside.key)


# -- valid ------------------------------------------------------------------------------------


def test_valid_offline(service: Elicence) -> None:
    seal = _issue(service)
    report = _offline(service, seal)
    assert report.verdict is Verdict.VALID
    assert {c.name for c in report.checks} == CRYPTO_CHECKS
    assert all(c.passed for c in report.checks)
    assert report.licence is not None
    assert report.licence.type_code == FOOD
    assert report.licence.valid_until == dt.date(2031, 11, 27)
    assert report.issuer == GZ_AMR
    assert report.issued_at == NOW
    assert report.checked_at == NOW


def test_valid_online(service: Elicence) -> None:
    seal = _issue(service)
    report = _online(service, seal)
    assert report.verdict is Verdict.VALID
    assert {c.name for c in report.checks} == CRYPTO_CHECKS | STATUS_CHECKS
    assert _check(report, "registry_status").detail == "status valid"


def test_valid_from_a_qr_url_and_for_a_natural_person(service: Elicence) -> None:
    seal = _issue(service, marriage(), dept=TH_CIVIL)
    report = _online(service, f"https://hall.example.gov.cn/v#{seal}")
    assert report.verdict is Verdict.VALID
    assert report.licence is not None and report.licence.type_code == MARRIAGE
    assert report.licence.holder_id == "1101**********002X"  # masked in the seal
    assert "long-term" in _check(report, "validity_dates").detail


# -- invalid: tampering -----------------------------------------------------------------------


def test_every_flipped_character_is_invalid_unless_the_signed_bytes_are_unchanged(
    service: Elicence,
) -> None:
    """A changed character either breaks the seal or lands in bits zlib ignores.

    Deflate ignores the alignment bits of a stored block (used for the incompressible
    signature), so a few changed characters inflate to the very same COSE_Sign1: nothing signed
    has changed, and offline such a text verifies. Everything else must be invalid.
    """
    seal = _issue(service)
    original = cose_bytes(seal)
    tl = service.keys.trust_list()
    for i in range(len("EL1:"), len(seal)):
        other = B32[(B32.index(seal[i]) + 1) % 32]
        flipped = seal[:i] + other + seal[i + 1 :]
        report = _offline(service, flipped, tl=tl)
        if report.verdict is Verdict.VALID:
            assert cose_bytes(flipped) == original, i
            continue
        assert report.verdict is Verdict.INVALID, i
        assert _failed(report) in {"decode", "signature"}, i


@pytest.mark.parametrize("prefix", ["EK1:", "EL2:", "XL1:", "EL1-"])
def test_a_broken_prefix_is_not_an_el1_seal_at_all(service: Elicence, prefix: str) -> None:
    seal = _issue(service)
    with pytest.raises(SealError):
        _offline(service, prefix + seal[4:])


def test_a_changed_claim_with_the_old_signature_is_invalid(service: Elicence) -> None:
    """Change the licence number and keep the department's signature: decode passes, ES256 fails."""
    import zlib

    import cbor2

    from elicence.formats.seal import b32encode

    seal = _issue(service)
    protected, unprotected, payload, signature = cbor2.loads(cose_bytes(seal)).value
    tampered = payload.replace(b"JY14401060000123", b"JY14401060000124")
    assert tampered != payload
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, dict(unprotected), tampered, signature]))
    forged = "EL1:" + b32encode(zlib.compress(cose))
    report = _offline(service, forged)
    assert report.verdict is Verdict.INVALID
    assert _failed(report) == "signature"
    assert report.licence is not None and report.licence.licence_number == "JY14401060000124"


# -- untrusted: signer ------------------------------------------------------------------------


def test_a_key_not_in_the_trust_list_is_untrusted(service: Elicence) -> None:
    forged = _reseal(_issue(service), _outsider())
    for report in (_offline(service, forged), _online(service, forged)):
        assert report.verdict is Verdict.UNTRUSTED
        assert _failed(report) == "signer_known"
        assert "not in the trust list" in _check(report, "signer_known").detail


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="claims-unchanged"),
        pytest.param({"issuer": SZ_AMR}, id="issuer-claim-changed-too"),
    ],
)
def test_another_departments_real_key_is_never_valid(
    service: Elicence, changes: dict[str, object]
) -> None:
    """GZ_AMR's licence re-signed by SZ_AMR's real key (in the trust list, may issue FOOD)."""
    seal = _issue(service)
    sz = service.keys.signers()[SZ_AMR]
    forged = _reseal(seal, sz, **changes)
    for report in (_offline(service, forged), _online(service, forged)):
        assert report.verdict is Verdict.INVALID
        assert _failed(report) == "issuer_consistent"
        assert _check(report, "signature").passed  # the signature itself is good
        assert _check(report, "issuer_authorised").passed


def test_a_department_sealing_a_type_it_may_not_issue_is_untrusted(service: Elicence) -> None:
    """TH_CIVIL (marriage only) seals a food permit naming itself: consistent but unauthorised."""
    seal = _issue(service)
    ident = LicenceIdentifier(FOOD, TH_CIVIL, "0123456789ABCDEF", 1)
    forged = _reseal(seal, service.keys.signers()[TH_CIVIL], issuer=TH_CIVIL, identifier=str(ident))
    report = _offline(service, forged)
    assert report.verdict is Verdict.UNTRUSTED
    assert _failed(report) == "issuer_authorised"
    assert _check(report, "issuer_consistent").passed
    assert _check(report, "signature").passed
    assert "may not issue" in _check(report, "issuer_authorised").detail


# -- dates ------------------------------------------------------------------------------------


def test_expired(service: Elicence, clock: Clock) -> None:
    seal = _issue(service, food_permit(valid_until="2026-12-31"))
    clock.now = dt.datetime(2026, 12, 31, 15, 59, 59, tzinfo=dt.UTC)  # 23:59:59 in Beijing
    assert _offline(service, seal).verdict is Verdict.VALID
    assert _online(service, seal).verdict is Verdict.VALID
    clock.now = dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC)  # midnight in Beijing
    for report in (_offline(service, seal), _online(service, seal)):
        assert report.verdict is Verdict.EXPIRED
        assert _failed(report) == "validity_dates"
        assert "expired after 2026-12-31" in _check(report, "validity_dates").detail


def test_expired_five_years_on(service: Elicence, clock: Clock) -> None:
    seal = _issue(service)
    # the service certificate (5 years from NOW - 30 days) runs out first: a list from before
    tl = verify_trust_list_at(service, dt.datetime(2031, 10, 1, tzinfo=dt.UTC))
    clock.now = dt.datetime(2031, 11, 27, 15, 59, tzinfo=dt.UTC)
    assert _offline(service, seal, tl=tl).verdict is Verdict.VALID
    report = _offline(service, seal, now=dt.datetime(2031, 11, 27, 16, 0, tzinfo=dt.UTC), tl=tl)
    assert report.verdict is Verdict.EXPIRED
    assert _failed(report) == "validity_dates"


def verify_trust_list_at(service: Elicence, at: dt.datetime) -> TrustList:
    """A trust list signed at ``at`` and valid for 90 days (made with the service's own keys)."""
    from elicence.formats.trustlist import sign_trust_list, verify_trust_list

    current = service.keys.trust_list()
    signed = sign_trust_list(
        signer=service.keystore.service_signer(PASSPHRASE),
        root=current.root,
        entries=current.entries,
        issued_at=at,
        next_update=at + dt.timedelta(days=90),
        sequence=current.sequence,
    )
    return verify_trust_list(signed, root=service.keystore.root_certificate())


def test_before_valid_from_is_not_yet_valid(service: Elicence, clock: Clock) -> None:
    """Genuine, but not in force before its first day: ``not_yet_valid``, not ``invalid``."""
    seal = _issue(service, food_permit(valid_from="2026-12-01"))
    for report in (_offline(service, seal), _online(service, seal)):
        assert report.verdict is Verdict.NOT_YET_VALID
        assert _failed(report) == "validity_dates"
        assert "valid from 2026-12-01" in _check(report, "validity_dates").detail
    clock.now = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)  # 1 December in Beijing
    assert _online(service, seal).verdict is Verdict.VALID


def test_an_exp_claim_that_disagrees_with_valid_until_is_invalid(service: Elicence) -> None:
    """Even the department's own key cannot make exp say more than the licence's last day."""
    seal = _issue(service)
    later = expiry_instant(dt.date(2035, 1, 1))
    forged = _reseal(seal, service.keys.signers()[GZ_AMR], expires_at=later)
    report = _offline(service, forged)
    assert report.verdict is Verdict.INVALID
    assert _failed(report) == "issuer_consistent"
    assert "exp" in _check(report, "issuer_consistent").detail


# -- trust list -------------------------------------------------------------------------------


def test_stale_trust_list_is_indeterminate(service: Elicence) -> None:
    seal = _issue(service)
    tl = service.keys.trust_list()
    assert _offline(service, seal, now=tl.next_update, tl=tl).verdict is Verdict.VALID
    late = tl.next_update + dt.timedelta(seconds=1)
    report = _offline(service, seal, now=late, tl=tl)
    assert report.verdict is Verdict.INDETERMINATE
    assert _failed(report) == "trust_list_current"
    # every other check still ran and passed: only the staleness stands in the way
    assert [c.name for c in report.checks if not c.passed] == ["trust_list_current"]


def test_key_retired_before_the_seal_is_untrusted_but_earlier_seals_stay_valid(
    service: Elicence, clock: Clock
) -> None:
    before = _issue(service)
    old_signer = service.keys.signers()[GZ_AMR]
    clock.advance(hours=1)
    retired, new = service.keys.rotate(GZ_AMR)
    assert retired is not None and retired.kid == old_signer.kid.hex()
    clock.advance(hours=1)
    # a seal made with the retired key after its retirement (a leaked or lingering key)
    claims = decode_seal(before).claims
    late = seal_licence(
        SealClaims(claims.issuer, int(clock().timestamp()), claims.expires_at, claims.licence),
        old_signer,
    )
    tl = service.keys.trust_list()
    entry = tl.entry(old_signer.kid)
    assert entry is not None and entry.status == "retired"
    report = _offline(service, late, tl=tl)
    assert report.verdict is Verdict.UNTRUSTED
    assert _failed(report) == "signer_valid_at_issuance"
    assert "retired since" in _check(report, "signer_valid_at_issuance").detail
    # what the key sealed before it was retired stays valid, offline and online
    assert _offline(service, before, tl=tl).verdict is Verdict.VALID
    assert _online(service, before).verdict is Verdict.VALID
    # and the new key issues valid seals
    fresh = _issue(service, food_permit("GZ-SCJ-2026-000124"))
    assert decode_seal(fresh).kid.hex() == new.kid
    assert _online(service, fresh).verdict is Verdict.VALID


def test_a_seal_dated_before_its_certificate_is_untrusted(service: Elicence) -> None:
    seal = _issue(service)
    signer = service.keys.signers()[GZ_AMR]
    early = int((signer.certificate.not_valid_before_utc - dt.timedelta(days=1)).timestamp())
    report = _offline(service, _reseal(seal, signer, issued_at=early))
    assert report.verdict is Verdict.UNTRUSTED
    assert _failed(report) == "signer_valid_at_issuance"


# -- registry ---------------------------------------------------------------------------------


def test_not_in_the_registry_is_not_found(service: Elicence) -> None:
    """Sealed with the real key under a fresh identifier, but never stored."""
    seal = _issue(service)
    ident = LicenceIdentifier(FOOD, GZ_AMR, "NEVERSTORED00000", 1)
    forged = _reseal(seal, service.keys.signers()[GZ_AMR], identifier=str(ident))
    assert _offline(service, forged).verdict is Verdict.VALID  # offline cannot tell
    report = _online(service, forged)
    assert report.verdict is Verdict.NOT_FOUND
    assert _failed(report) == "registry_record"


def test_registry_holding_a_different_seal_is_invalid(service: Elicence) -> None:
    """The same claims sealed again with the same real key: a different seal text."""
    seal = _issue(service)
    twin = _reseal(seal, service.keys.signers()[GZ_AMR])
    assert twin != seal
    assert _offline(service, twin).verdict is Verdict.VALID
    report = _online(service, twin)
    assert report.verdict is Verdict.INVALID
    assert _failed(report) == "registry_record"
    assert "different seal" in _check(report, "registry_record").detail


class _Mirror:
    """A status mirror (a hall's copy of the registry) with one status changed."""

    def __init__(self, service: Elicence, status: str, superseded_by: str | None = None) -> None:
        self._service, self._status, self._by = service, status, superseded_by

    def lookup(self, identifier: str) -> RegistryRecord | None:
        record = self._service.registry.lookup(identifier)
        if record is None:
            return None
        return dataclasses.replace(record, status=self._status, superseded_by=self._by)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        pytest.param("revoked", Verdict.REVOKED, id="revoked"),
        pytest.param("suspended", Verdict.SUSPENDED, id="suspended"),
        pytest.param("superseded", Verdict.SUPERSEDED, id="superseded"),
        pytest.param("cancelled", Verdict.INVALID, id="unknown-status"),
    ],
)
def test_registry_status_decides(service: Elicence, status: str, verdict: Verdict) -> None:
    seal = _issue(service)
    by = "1.2.156.3005.2.x" if status == "superseded" else None
    report = verify_seal(
        seal,
        trust_list=service.keys.trust_list(),
        status=_Mirror(service, status, by),
        now=service.clock(),
    )
    _assert_consistent(report)
    assert report.verdict is verdict
    assert _failed(report) == "registry_status"
    assert report.superseded_by == by


def test_registry_dates_override_the_seals(service: Elicence) -> None:
    """Online, the registry's validity dates count (a licence shortened after sealing)."""
    seal = _issue(service)

    class Shortened(_Mirror):
        def lookup(self, identifier: str) -> RegistryRecord | None:
            record = super().lookup(identifier)
            assert record is not None
            return dataclasses.replace(record, valid_until=dt.date(2026, 11, 27))

    report = verify_seal(
        seal, trust_list=service.keys.trust_list(), status=Shortened(service, "valid"), now=NOW
    )
    _assert_consistent(report)
    assert report.verdict is Verdict.EXPIRED
    assert _offline(service, seal).verdict is Verdict.VALID


def test_undecodable_seal_is_invalid_with_only_the_decode_check(service: Elicence) -> None:
    report = _offline(service, "EL1:AAAA")
    assert report.verdict is Verdict.INVALID
    assert [c.name for c in report.checks] == ["decode"]
    assert report.licence is None
