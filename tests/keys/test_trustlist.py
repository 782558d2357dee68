"""elicence.formats.trustlist: sign under the service key, verify against the pinned root."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import cbor2
import pytest
from cryptography import x509

from elicence.errors import TrustListError
from elicence.formats.trustlist import TrustEntry, TrustList, sign_trust_list, verify_trust_list
from elicence.keys import pki
from elicence.keys.signer import Signer
from elicence.keys.store import KeyRole, KeyStore
from tests.conftest import FOOD, GZ_AMR, MARRIAGE, NOW, PASSPHRASE, TH_CIVIL
from tests.pki import OutsidePki

ISSUED = NOW.replace(microsecond=0)
NEXT = ISSUED + dt.timedelta(hours=24)
TYPES = {GZ_AMR: (FOOD,), TH_CIVIL: (MARRIAGE,)}


@pytest.fixture
def store(keys_dir: Path) -> KeyStore:
    return KeyStore(keys_dir, scrypt_log2_n=10)


def _entries(store: KeyStore) -> list[TrustEntry]:
    return [
        TrustEntry(
            kid=bytes.fromhex(e.kid),
            department=e.department,
            name=e.name,
            certificate=store.certificate(e),
            status=str(e.status),
            status_since=e.status_since,
            licence_types=TYPES.get(e.department, ()),
        )
        for e in store.entries()
        if e.role is KeyRole.DEPARTMENT and e.department is not None
    ]


def _sign(
    store: KeyStore,
    *,
    signer: Signer | None = None,
    root: x509.Certificate | None = None,
    entries: list[TrustEntry] | None = None,
    issued_at: dt.datetime = ISSUED,
) -> bytes:
    return sign_trust_list(
        signer=signer or store.service_signer(PASSPHRASE),
        root=root or store.root_certificate(),
        entries=_entries(store) if entries is None else entries,
        issued_at=issued_at,
        next_update=issued_at + dt.timedelta(hours=24),
        sequence=1,
    )


def _resign_payload(signed: bytes, change, signer: Signer) -> bytes:  # type: ignore[no-untyped-def]
    """Change the payload and sign it again properly with ``signer`` (same protected header)."""
    protected, unprotected, payload, _ = cbor2.loads(signed).value
    body = dict(cbor2.loads(payload))
    change(body)
    payload = cbor2.dumps(body)
    signature = signer.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
    return cbor2.dumps(cbor2.CBORTag(18, [protected, dict(unprotected), payload, signature]))


def test_signed_list_verifies_with_the_root(store: KeyStore) -> None:
    signed = _sign(store)
    tl = verify_trust_list(signed, root=store.root_certificate())
    assert isinstance(tl, TrustList)
    assert tl.issued_at == ISSUED
    assert tl.next_update == NEXT
    assert tl.root == store.root_certificate()
    assert tl.signed == signed
    want = _entries(store)
    assert [
        (e.kid, e.department, e.name, e.status, e.status_since, e.licence_types) for e in tl.entries
    ] == [(e.kid, e.department, e.name, e.status, e.status_since, e.licence_types) for e in want]
    assert [e.certificate for e in tl.entries] == [e.certificate for e in want]
    gz = store.active_entry(GZ_AMR)
    assert gz is not None
    entry = tl.entry(bytes.fromhex(gz.kid))
    assert entry is not None and entry.department == GZ_AMR and entry.licence_types == (FOOD,)
    assert tl.entry(b"\0" * 8) is None


def test_staleness_follows_next_update(store: KeyStore) -> None:
    tl = verify_trust_list(_sign(store), root=store.root_certificate())
    assert not tl.stale(NEXT)
    assert tl.stale(NEXT + dt.timedelta(seconds=1))


def test_any_flipped_payload_byte_is_refused(store: KeyStore) -> None:
    signed = _sign(store)
    protected, unprotected, payload, signature = cbor2.loads(signed).value
    root = store.root_certificate()
    step = max(1, len(payload) // 200)
    for i in range(0, len(payload), step):
        tampered = payload[:i] + bytes([payload[i] ^ 0x01]) + payload[i + 1 :]
        forged = cbor2.dumps(cbor2.CBORTag(18, [protected, dict(unprotected), tampered, signature]))
        with pytest.raises(TrustListError):
            verify_trust_list(forged, root=root)


def test_a_status_changed_in_transit_is_refused(store: KeyStore) -> None:
    signed = _sign(store)
    protected, unprotected, payload, signature = cbor2.loads(signed).value
    assert b"active" in payload
    tampered = payload.replace(b"active", b"retird", 1)  # same length: still valid CBOR
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected, dict(unprotected), tampered, signature]))
    with pytest.raises(TrustListError, match="signature does not verify"):
        verify_trust_list(forged, root=store.root_certificate())


def test_a_flipped_signature_byte_is_refused(store: KeyStore) -> None:
    protected, unprotected, payload, signature = cbor2.loads(_sign(store)).value
    bad = bytes([signature[0] ^ 0x01]) + signature[1:]
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected, dict(unprotected), payload, bad]))
    with pytest.raises(TrustListError, match="signature does not verify"):
        verify_trust_list(forged, root=store.root_certificate())


def test_list_signed_by_a_department_key_is_refused(store: KeyStore) -> None:
    dept_signer = store.department_signers(PASSPHRASE)[GZ_AMR]
    assert pki.issued_by(dept_signer.certificate, store.root_certificate())  # chains, but no EKU
    signed = _sign(store, signer=dept_signer)
    with pytest.raises(TrustListError, match="not certified by the root for trust lists"):
        verify_trust_list(signed, root=store.root_certificate())


def test_list_checked_against_another_root_is_refused(store: KeyStore, tmp_path: Path) -> None:
    other = KeyStore(tmp_path / "other", scrypt_log2_n=10)
    other.init(passphrase=PASSPHRASE, departments=[], now=NOW, crl_url=None)
    signed = _sign(store)
    with pytest.raises(TrustListError, match="not certified by the root"):
        verify_trust_list(signed, root=other.root_certificate())


def test_list_signed_by_another_roots_service_key_is_refused(
    store: KeyStore, tmp_path: Path
) -> None:
    """Another PKI's trust-list signer (right EKU, wrong root) naming our root."""
    other = KeyStore(tmp_path / "other", scrypt_log2_n=10)
    other.init(passphrase=PASSPHRASE, departments=[], now=NOW, crl_url=None)
    signed = _sign(store, signer=other.service_signer(PASSPHRASE))
    with pytest.raises(TrustListError, match="not certified by the root"):
        verify_trust_list(signed, root=store.root_certificate())


def test_list_naming_another_root_is_refused(store: KeyStore, tmp_path: Path) -> None:
    other = KeyStore(tmp_path / "other", scrypt_log2_n=10)
    other.init(passphrase=PASSPHRASE, departments=[], now=NOW, crl_url=None)
    signed = _sign(store, root=other.root_certificate())
    with pytest.raises(TrustListError, match="names a different root"):
        verify_trust_list(signed, root=store.root_certificate())


def test_self_signed_signer_with_the_eku_is_refused(store: KeyStore) -> None:
    outside = OutsidePki.make(KeyStore.ROOT_NAME)
    fake = outside.signer(
        key=outside.key,
        common_name="elicence trust list signer",
        uscc=None,
        trust_list_signer=True,
    )
    signed = _sign(store, signer=fake)
    with pytest.raises(TrustListError, match="not certified by the root"):
        verify_trust_list(signed, root=store.root_certificate())


def test_list_issued_outside_the_signer_certificate_validity_is_refused(store: KeyStore) -> None:
    signer = store.service_signer(PASSPHRASE)
    before = signer.certificate.not_valid_before_utc - dt.timedelta(days=1)
    with pytest.raises(TrustListError, match="not valid when the trust list was issued"):
        verify_trust_list(_sign(store, issued_at=before), root=store.root_certificate())
    after = signer.certificate.not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(TrustListError, match="not valid when the trust list was issued"):
        verify_trust_list(_sign(store, issued_at=after), root=store.root_certificate())


def test_entry_whose_kid_does_not_match_its_certificate_is_refused(store: KeyStore) -> None:
    signer = store.service_signer(PASSPHRASE)

    def swap_kid(body: dict) -> None:  # type: ignore[type-arg]
        entries = [dict(e) for e in body[5]]
        entries[0][1] = entries[1][1]
        body[5] = entries

    forged = _resign_payload(_sign(store), swap_kid, signer)
    with pytest.raises(TrustListError, match="kid does not match"):
        verify_trust_list(forged, root=store.root_certificate())


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        pytest.param(lambda b: b.__setitem__(1, "EL-TL2"), "format is not EL-TL1", id="format"),
        pytest.param(lambda b: b.__setitem__(5, "nope"), "list of maps", id="entries-not-a-list"),
        pytest.param(lambda b: b.__setitem__(3, "tomorrow"), "integer time", id="next-update-text"),
        pytest.param(
            lambda b: b.__setitem__(5, [{**b[5][0], 5: "suspended"}]),
            "wrong type",
            id="unknown-status",
        ),
        pytest.param(
            lambda b: b.__setitem__(5, [{k: v for k, v in b[5][0].items() if k != 4}]),
            "incomplete or malformed",
            id="entry-without-certificate",
        ),
        pytest.param(lambda b: b.__setitem__(6, 0), "sequence", id="sequence-zero"),
        pytest.param(lambda b: b.__setitem__(6, -1), "sequence", id="sequence-negative"),
        pytest.param(lambda b: b.__setitem__(6, True), "sequence", id="sequence-boolean"),
        pytest.param(lambda b: b.__setitem__(6, "7"), "sequence", id="sequence-as-text"),
        pytest.param(lambda b: b.__setitem__(6, 2**63), "sequence", id="sequence-too-large"),
    ],
)
def test_malformed_but_properly_signed_content_is_refused(
    store: KeyStore, change, rule: str
) -> None:  # type: ignore[no-untyped-def]
    forged = _resign_payload(_sign(store), change, store.service_signer(PASSPHRASE))
    with pytest.raises(TrustListError, match=rule):
        verify_trust_list(forged, root=store.root_certificate())


def test_a_list_without_a_sequence_reads_as_sequence_0(store: KeyStore) -> None:
    """Lists signed before sequence numbers (docs/examples/) stay readable: any stated number
    is newer, so a verifier that keeps state refuses them once it has seen one."""
    signer = store.service_signer(PASSPHRASE)
    older = _resign_payload(_sign(store), lambda b: b.pop(6), signer)
    assert verify_trust_list(older, root=store.root_certificate()).sequence == 0
    assert verify_trust_list(_sign(store), root=store.root_certificate()).sequence == 1


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\x00", id="not-cbor"),
        pytest.param(cbor2.dumps([b"", {}, b"", b""]), id="untagged"),
        pytest.param(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b""])), id="three-elements"),
        pytest.param(
            cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {}, cbor2.dumps({}), b"x" * 64])),
            id="no-x5chain",
        ),
        pytest.param(
            cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -35}), {}, cbor2.dumps({}), b""])),
            id="es384",
        ),
    ],
)
def test_garbage_is_a_trust_list_error(store: KeyStore, data: bytes) -> None:
    with pytest.raises(TrustListError):
        verify_trust_list(data, root=store.root_certificate())


def test_service_trust_list_round_trips(service) -> None:  # type: ignore[no-untyped-def]
    """The service's own list: every department key of the store, under the root."""
    tl = service.keys.trust_list()
    again = verify_trust_list(tl.signed, root=service.keystore.root_certificate())
    assert {e.department for e in again.entries} == {
        e.department for e in service.keystore.entries() if e.role is KeyRole.DEPARTMENT
    }
    th = next(e for e in again.entries if e.department == TH_CIVIL)
    assert th.licence_types == (MARRIAGE,)
    assert all(e.chains_to_root for e in again.entries)
