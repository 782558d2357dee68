"""Offline revocation: signed status lists EL-SL1, verify_status_list and OfflineStatus.

The service (with its database) only *produces* the lists; every verification here works from
bytes: the signed trust list, the signed status lists and the pinned root.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import random
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509

from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.errors import StatusListError
from elicence.formats.cose import sign_service_document
from elicence.formats.seal import SealClaims, decode_seal, seal_licence
from elicence.formats.statuslist import (
    FORMAT,
    MIN_BITS,
    Purpose,
    bitstring,
    list_size,
    set_indices,
    sign_status_list,
)
from elicence.formats.trustlist import TrustList, verify_trust_list
from elicence.issuer.lifecycle import Action
from elicence.keys.signer import Signer
from elicence.keys.store import DepartmentName, KeyStore
from elicence.verifier import (
    OfflineStatus,
    StatusList,
    Verdict,
    VerificationReport,
    verify_seal,
    verify_status_list,
)
from tests.conftest import GZ_AMR, NOW, PASSPHRASE, SZ_AMR, Clock, food_permit

# The example of W3C Bitstring Status List v1.0 (its encodedList: multibase "u" + base64url of
# GZIP): a list of the minimum size, 131,072 bits, none set.
W3C_EXAMPLE_ENCODED_LIST = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
HOUR = dt.timedelta(hours=1)


def _dept(dept: str = GZ_AMR) -> Client:
    return Client(f"c-{dept}", dept, Role.DEPARTMENT, dept)


def _admin() -> Client:
    return Client("c-admin", "admin", Role.ADMIN, None)


def _offline(service: Elicence, *departments: str) -> tuple[TrustList, OfflineStatus]:
    """What an offline hall holds: the trust list and status lists it checked, from bytes only."""
    root_pem = service.keystore.root_certificate()
    trust_list = verify_trust_list(service.keys.trust_list().signed, root=root_pem)
    signed = [
        service.keys.status_list(d, str(p)).signed
        for d in departments or (GZ_AMR,)
        for p in Purpose
    ]
    return trust_list, OfflineStatus(verify_status_list(b, trust_list) for b in signed)


def _verify(
    seal: str, trust_list: TrustList, status: OfflineStatus, now: dt.datetime = NOW
) -> VerificationReport:
    return verify_seal(seal, trust_list=trust_list, status=status, now=now)


def _check(report: VerificationReport, name: str) -> Any:
    return next(c for c in report.checks if c.name == name)


def _sign(
    signer: Signer,
    *,
    purpose: Purpose = Purpose.REVOCATION,
    indices: tuple[int, ...] = (),
    issued_at: dt.datetime = NOW,
    valid_until: dt.datetime | None = None,
    department: str = GZ_AMR,
    size: int = MIN_BITS,
) -> bytes:
    return sign_status_list(
        signer=signer,
        department=department,
        purpose=purpose,
        issued_at=issued_at,
        valid_until=valid_until or issued_at + 24 * HOUR,
        size=size,
        indices=indices,
        sequence=1,
    )


# -- the bitstring ------------------------------------------------------------------------------


def test_bit_order_matches_the_w3c_spec() -> None:
    # the W3C example list inflates to exactly our empty list of the minimum size
    encoded = W3C_EXAMPLE_ENCODED_LIST[1:]
    w3c_bits = gzip.decompress(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert w3c_bits == bitstring([], MIN_BITS)
    assert len(w3c_bits) * 8 == MIN_BITS == 131_072
    # W3C: index 0 is the left-most bit of the bitstring, so the most significant bit of byte 0
    for index in (0, 1, 7, 8, 9, 1000, MIN_BITS - 1):
        bits = bitstring([index], MIN_BITS)
        as_text = "".join(f"{b:08b}" for b in bits)
        assert as_text.index("1") == index and as_text.count("1") == 1
        assert set_indices(bits) == [index]
    assert bitstring([0], MIN_BITS)[0] == 0x80
    assert bitstring([7], MIN_BITS)[0] == 0x01
    assert bitstring([8], MIN_BITS)[:2] == b"\x00\x80"
    assert set_indices(bitstring([3, 0, 130_000], MIN_BITS)) == [0, 3, 130_000]


@pytest.mark.parametrize(
    ("handed_out", "size"),
    [(0, MIN_BITS), (1, MIN_BITS), (MIN_BITS, MIN_BITS), (MIN_BITS + 1, 2 * MIN_BITS)],
)
def test_lists_grow_in_blocks_of_16_kb(handed_out: int, size: int) -> None:
    assert list_size(handed_out) == size


# -- found offline -------------------------------------------------------------------------------


def test_revoked_suspended_superseded_found_offline(service: Elicence, clock: Clock) -> None:
    issued = [service.licences.issue(_dept(), food_permit(f"SL-{n}")).licence for n in range(4)]
    assert [lic.status_index for lic in issued] == [0, 1, 2, 3]
    revoked, suspended, amended, untouched = issued
    service.licences.change_status(_dept(), revoked.identifier, Action.REVOKE, reason="注销")
    service.licences.change_status(_dept(), suspended.identifier, Action.SUSPEND, reason="停业整顿")
    change = service.licences.amend(
        _dept(), amended.identifier, {"licence_number": "JY1440106000NEW"}, reason="变更"
    )
    new_version = change.new_version
    assert new_version is not None and new_version.status_index == 4
    assert decode_seal(new_version.seal).claims.licence.status_index == 4

    trust_list, status = _offline(service)
    verdicts = {
        lic.identifier: _verify(lic.seal, trust_list, status).verdict
        for lic in (revoked, suspended, amended, untouched, new_version)
    }
    assert verdicts == {
        revoked.identifier: Verdict.REVOKED,
        suspended.identifier: Verdict.SUSPENDED,
        amended.identifier: Verdict.SUPERSEDED,
        untouched.identifier: Verdict.VALID,
        new_version.identifier: Verdict.VALID,
    }
    report = _verify(untouched.seal, trust_list, status)
    assert report.status_checked
    assert _check(report, "status_lists").passed
    assert "index 3 is clear" in _check(report, "status_list_bits").detail
    assert (
        "set in the revocation list"
        in _check(_verify(revoked.seal, trust_list, status), "status_list_bits").detail
    )
    # the registry (online) agrees with the lists (offline)
    for lic in (revoked, suspended, amended, untouched, new_version):
        online = verify_seal(lic.seal, trust_list=trust_list, status=service.registry, now=NOW)
        assert online.verdict == verdicts[lic.identifier]

    # a reinstatement clears the suspension bit in the next list (the log grew: rebuilt)
    clock.advance(minutes=5)
    service.licences.change_status(
        _dept(), suspended.identifier, Action.REINSTATE, reason="整改完成"
    )
    trust_list, status = _offline(service)
    assert _verify(suspended.seal, trust_list, status, clock.now).verdict is Verdict.VALID


def test_lists_are_per_department(service: Elicence) -> None:
    gz = service.licences.issue(_dept(GZ_AMR), food_permit("GZ-1")).licence
    sz = service.licences.issue(_dept(SZ_AMR), food_permit("SZ-1")).licence
    assert gz.status_index == sz.status_index == 0  # each department counts from 0
    service.licences.change_status(_dept(GZ_AMR), gz.identifier, Action.REVOKE, reason="注销")
    trust_list, status = _offline(service, GZ_AMR, SZ_AMR)
    assert _verify(gz.seal, trust_list, status).verdict is Verdict.REVOKED
    assert _verify(sz.seal, trust_list, status).verdict is Verdict.VALID
    # without Shenzhen's lists, its licence is indeterminate, not valid
    _, gz_only = _offline(service, GZ_AMR)
    report = _verify(sz.seal, trust_list, gz_only)
    assert report.verdict is Verdict.INDETERMINATE
    assert f"no revocation list of {SZ_AMR}" in _check(report, "status_lists").detail


def test_stale_list_is_indeterminate(service: Elicence) -> None:
    lic = service.licences.issue(_dept(), food_permit()).licence
    trust_list = verify_trust_list(
        service.keys.trust_list().signed, root=service.keystore.root_certificate()
    )
    signer = service.keystore.service_signer(PASSPHRASE)
    lists = [
        verify_status_list(_sign(signer, purpose=p, valid_until=NOW + HOUR), trust_list)
        for p in Purpose
    ]
    status = OfflineStatus(lists)
    assert _verify(lic.seal, trust_list, status, NOW + HOUR).verdict is Verdict.VALID
    later = NOW + HOUR + dt.timedelta(seconds=1)  # the trust list is still current
    report = _verify(lic.seal, trust_list, status, later)
    assert report.verdict is Verdict.INDETERMINATE
    assert _check(report, "trust_list_current").passed
    detail = _check(report, "status_lists").detail
    assert "revocation list is stale" in detail and "fetch a fresh one" in detail
    # a stale list showing a set bit does not decide either: its bits are not consulted
    revoked = OfflineStatus(
        [
            verify_status_list(
                _sign(signer, purpose=p, indices=(0,), valid_until=NOW + HOUR), trust_list
            )
            for p in Purpose
        ]
    )
    assert _verify(lic.seal, trust_list, revoked, later).verdict is Verdict.INDETERMINATE


def test_the_newest_list_of_a_department_and_purpose_is_used(service: Elicence) -> None:
    lic = service.licences.issue(_dept(), food_permit()).licence
    trust_list = verify_trust_list(
        service.keys.trust_list().signed, root=service.keystore.root_certificate()
    )
    signer = service.keystore.service_signer(PASSPHRASE)
    old = verify_status_list(_sign(signer, issued_at=NOW - HOUR), trust_list)
    new = verify_status_list(_sign(signer, indices=(0,)), trust_list)
    others = [verify_status_list(_sign(signer, purpose=p), trust_list) for p in Purpose][1:]
    for order in ([old, new], [new, old]):
        status = OfflineStatus([*order, *others])
        assert status.get(GZ_AMR, Purpose.REVOCATION) is new
        assert _verify(lic.seal, trust_list, status).verdict is Verdict.REVOKED


def test_missing_list_is_indeterminate_but_a_set_bit_still_counts(service: Elicence) -> None:
    lic = service.licences.issue(_dept(), food_permit()).licence
    trust_list, full = _offline(service)
    partial = OfflineStatus(sl for sl in full.lists.values() if sl.purpose != "supersession")
    report = _verify(lic.seal, trust_list, partial)
    assert report.verdict is Verdict.INDETERMINATE
    assert f"no supersession list of {GZ_AMR} is held" in _check(report, "status_lists").detail
    assert _verify(lic.seal, trust_list, OfflineStatus([])).verdict is Verdict.INDETERMINATE
    # revoked is final: a current revocation list with the bit set decides, even with a gap
    service.licences.change_status(_dept(), lic.identifier, Action.REVOKE, reason="注销")
    trust_list, full = _offline(service)
    revocation_only = OfflineStatus([full.lists[(GZ_AMR, Purpose.REVOCATION)]])
    assert _verify(lic.seal, trust_list, revocation_only).verdict is Verdict.REVOKED


def test_a_seal_without_a_status_index_is_indeterminate_offline(service: Elicence) -> None:
    lic = service.licences.issue(_dept(), food_permit()).licence
    claims = decode_seal(lic.seal).claims
    sealed = claims.licence
    fields = {f: getattr(sealed, f) for f in sealed.__slots__}  # type: ignore[attr-defined]
    older = seal_licence(
        SealClaims(
            claims.issuer,
            claims.issued_at,
            claims.expires_at,
            type(sealed)(**{**fields, "status_index": None}),
        ),
        service.keys.signers()[GZ_AMR],
    )
    trust_list, status = _offline(service)
    report = _verify(older, trust_list, status)
    assert report.verdict is Verdict.INDETERMINATE
    assert _check(report, "signature").passed
    assert "no status index" in _check(report, "status_lists").detail
    assert "online check" in _check(report, "status_lists").detail


def test_an_index_beyond_the_list_is_indeterminate(service: Elicence) -> None:
    lic = service.licences.issue(_dept(), food_permit()).licence
    trust_list, _ = _offline(service)
    signer = service.keystore.service_signer(PASSPHRASE)
    # a list made before this department handed out index 0 would still cover it (16 KB);
    # model a licence whose index lies past the list with a list of another department's size
    claims = decode_seal(lic.seal).claims
    sealed = claims.licence
    fields = {f: getattr(sealed, f) for f in sealed.__slots__}  # type: ignore[attr-defined]
    far = seal_licence(
        SealClaims(
            claims.issuer,
            claims.issued_at,
            claims.expires_at,
            type(sealed)(**{**fields, "status_index": MIN_BITS}),
        ),
        service.keys.signers()[GZ_AMR],
    )
    status = OfflineStatus(
        verify_status_list(_sign(signer, purpose=p), trust_list) for p in Purpose
    )
    report = _verify(far, trust_list, status)
    assert report.verdict is Verdict.INDETERMINATE
    assert f"does not cover index {MIN_BITS}" in _check(report, "status_lists").detail


def test_lists_checked_against_another_root_are_not_used(
    service: Elicence, tmp_path: Path, demo_catalogue: Any
) -> None:
    lic = service.licences.issue(_dept(), food_permit()).licence
    trust_list, _ = _offline(service)
    other = _other_store(tmp_path, demo_catalogue)
    other_tl = verify_trust_list(
        _resigned_trust_list(other, trust_list), root=other.root_certificate()
    )
    signer = other.service_signer(PASSPHRASE)
    status = OfflineStatus(verify_status_list(_sign(signer, purpose=p), other_tl) for p in Purpose)
    report = _verify(lic.seal, trust_list, status)
    assert report.verdict is Verdict.INDETERMINATE
    assert "checked against another root" in _check(report, "status_lists").detail


# -- refused lists -------------------------------------------------------------------------------


def _other_store(tmp_path: Path, demo_catalogue: Any) -> KeyStore:
    store = KeyStore(tmp_path / "other-keys", scrypt_log2_n=10)
    store.init(
        passphrase=PASSPHRASE,
        departments=[
            DepartmentName(d.uscc, d.name_zh) for d in demo_catalogue.departments.values()
        ],
        now=NOW - dt.timedelta(days=30),
        crl_url=None,
    )
    return store


def _resigned_trust_list(store: KeyStore, like: TrustList) -> bytes:
    from elicence.formats.trustlist import sign_trust_list

    return sign_trust_list(
        signer=store.service_signer(PASSPHRASE),
        root=store.root_certificate(),
        entries=[],
        issued_at=like.issued_at,
        next_update=like.next_update,
        sequence=like.sequence + 1,
    )


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def test_forged_lists_are_refused(service: Elicence, tmp_path: Path, demo_catalogue: Any) -> None:
    trust_list = verify_trust_list(
        service.keys.trust_list().signed, root=service.keystore.root_certificate()
    )
    genuine = _sign(service.keystore.service_signer(PASSPHRASE), indices=(5,))
    assert verify_status_list(genuine, trust_list).set_indices() == [5]
    other = _other_store(tmp_path, demo_catalogue)
    bits_at = genuine.index(zlib.compress(bitstring([5], MIN_BITS), 9))
    forged = {
        # a department key is certified by the root, but not for status lists
        "signed by a department key": (
            _sign(service.keys.signers()[GZ_AMR], indices=(5,)),
            "not certified by the root",
        ),
        "tampered bitstring": (_flip(genuine, bits_at + 4), "signature does not verify"),
        "tampered signature": (_flip(genuine, len(genuine) - 1), "signature does not verify"),
        "signed under another root": (
            _sign(other.service_signer(PASSPHRASE), indices=(5,)),
            "not certified by the root",
        ),
        "not COSE at all": (b"EL-SL1", "not a COSE_Sign1"),
        "truncated": (genuine[:-10], "not a COSE_Sign1"),
    }
    for case, (signed, message) in forged.items():
        with pytest.raises(StatusListError, match=message):
            verify_status_list(signed, trust_list)
            pytest.fail(f"accepted: {case}")


def _payload(**over: object) -> Mapping[int, Any]:
    payload: dict[int, Any] = {
        1: FORMAT,
        2: GZ_AMR,
        3: "revocation",
        4: int(NOW.timestamp()),
        5: int((NOW + 24 * HOUR).timestamp()),
        6: MIN_BITS,
        7: zlib.compress(bitstring([], MIN_BITS)),
    }
    keys = {"format": 1, "department": 2, "purpose": 3, "issued": 4, "until": 5, "size": 6}
    keys["sequence"] = 8
    for name, value in over.items():
        key = keys.get(name, 7)
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(_payload(format="EL-TL1"), "format is not EL-SL1", id="trust-list-format"),
        pytest.param(_payload(department="11440100MB2D00002X"), "not a USCC", id="bad-uscc"),
        pytest.param(_payload(department=None), "names no department", id="no-department"),
        pytest.param(_payload(department=GZ_AMR.lower()), "upper case", id="lower-case"),
        pytest.param(_payload(purpose="expiry"), "purpose 'expiry'", id="unknown-purpose"),
        pytest.param(_payload(issued="2026-11-28"), "integer time", id="issued-as-text"),
        pytest.param(_payload(until=int(NOW.timestamp())), "valid until before", id="no-validity"),
        pytest.param(_payload(size=MIN_BITS - 8), "multiple of 131072", id="too-small"),
        pytest.param(_payload(size=MIN_BITS + 8), "multiple of 131072", id="not-a-block"),
        pytest.param(_payload(size=True), "multiple of 131072", id="boolean-size"),
        pytest.param(_payload(size=2**28), "multiple of 131072", id="too-large"),
        pytest.param(_payload(bits=zlib.compress(bytes(MIN_BITS // 8 - 1))), "inflate", id="short"),
        pytest.param(_payload(bits=zlib.compress(bytes(MIN_BITS // 8 + 1))), "inflate", id="long"),
        pytest.param(
            _payload(bits=zlib.compress(bytes(MIN_BITS // 8)) + b"\0"), "inflate", id="trailing"
        ),
        pytest.param(_payload(bits=b"not zlib"), "not valid zlib", id="not-zlib"),
        pytest.param(_payload(bits=gzip.compress(bytes(MIN_BITS // 8))), "zlib", id="gzip"),
        pytest.param(_payload(bits="text"), "byte string", id="bits-as-text"),
        pytest.param(
            _payload(bits=zlib.compress(bytes(16 * 2**20))), "inflate", id="inflation-bomb"
        ),
        pytest.param(_payload(sequence=0), "sequence", id="sequence-zero"),
        pytest.param(_payload(sequence=-1), "sequence", id="sequence-negative"),
        pytest.param(_payload(sequence=True), "sequence", id="sequence-boolean"),
        pytest.param(_payload(sequence="2"), "sequence", id="sequence-as-text"),
        pytest.param(_payload(sequence=2**63), "sequence", id="sequence-too-large"),
    ],
)
def test_malformed_lists_are_refused(
    service: Elicence, payload: Mapping[int, Any], message: str
) -> None:
    trust_list = verify_trust_list(
        service.keys.trust_list().signed, root=service.keystore.root_certificate()
    )
    signed = sign_service_document(service.keystore.service_signer(PASSPHRASE), payload)
    with pytest.raises(StatusListError, match=message):
        verify_status_list(signed, trust_list)


def test_a_list_signed_outside_its_signer_validity_is_refused(service: Elicence) -> None:
    trust_list = verify_trust_list(
        service.keys.trust_list().signed, root=service.keystore.root_certificate()
    )
    signer = service.keystore.service_signer(PASSPHRASE)
    long_ago = signer.certificate.not_valid_before_utc - dt.timedelta(days=1)
    with pytest.raises(StatusListError, match="not valid when"):
        verify_status_list(_sign(signer, issued_at=long_ago), trust_list)


def test_the_wire_form_is_the_documented_cose_sign1(service: Elicence) -> None:
    signed = service.keys.status_list(GZ_AMR, "revocation").signed
    tag = cbor2.loads(signed)
    assert tag.tag == 18
    protected, unprotected, payload, signature = tag.value
    header = cbor2.loads(protected)
    assert header[1] == -7 and len(header[4]) == 8
    assert (
        x509.load_der_x509_certificate(header[33])
        == service.keystore.service_signer(PASSPHRASE).certificate
    )
    assert unprotected == {} and len(signature) == 64
    body = cbor2.loads(payload)
    assert sorted(body) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert (body[1], body[2], body[3]) == (FORMAT, GZ_AMR, "revocation")
    assert type(body[8]) is int and body[8] >= 1  # the sequence number
    assert body[5] - body[4] == 24 * 3600
    assert body[6] == MIN_BITS and zlib.decompress(body[7]) == bytes(MIN_BITS // 8)


# -- size: 1,000,000 licences, 1 % revoked --------------------------------------------------------


def test_size_of_a_list_of_a_million_licences_with_one_percent_revoked(service: Elicence) -> None:
    rng = random.Random(20261128)
    licences = 1_000_000
    revoked = rng.sample(range(licences), licences // 100)
    signer = service.keystore.service_signer(PASSPHRASE)
    trust_list = verify_trust_list(
        service.keys.trust_list().signed, root=service.keystore.root_certificate()
    )
    signed = _sign(signer, indices=tuple(revoked), size=list_size(licences))
    sl = verify_status_list(signed, trust_list)
    assert sl.size == 1_048_576  # eight 16 KB blocks
    assert sl.set_indices() == sorted(revoked)
    print(
        f"\nstatus list of {licences:,} licences, {len(revoked):,} revoked: "
        f"{sl.size:,} bits = {sl.size // 8:,} bytes raw, {sl.compressed_size:,} bytes zlib, "
        f"{len(signed):,} bytes signed (COSE) (build and verify times: bench/bench.py)"
    )
    # the entropy bound of 10,000 of 1,048,576 bits is about 10.1 KB; zlib reaches about 14 KB
    assert 10_000 < sl.compressed_size < 16_000
    assert len(signed) < sl.compressed_size + 1_000
    assert isinstance(sl, StatusList)
