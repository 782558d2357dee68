"""Keyring.unusable: the keys it opens at a worker's start are the ones it signs with, so the
first request of a worker does not open every key again (one scrypt each, ~1 s in all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from elicence.errors import KeyCustodyError
from elicence.keys import store as store_module
from elicence.keys.keyring import Keyring
from elicence.keys.store import DepartmentName, KeyStore
from tests.conftest import GZ_AMR, NOW, PASSPHRASE, TH_CIVIL

DEPTS = [
    DepartmentName(GZ_AMR, "广州市市场监督管理局"),
    DepartmentName(TH_CIVIL, "广州市天河区民政局"),
]


@pytest.fixture
def ks(tmp_path: Path) -> KeyStore:
    ks = KeyStore(tmp_path / "keys", scrypt_log2_n=10)
    ks.init(passphrase=PASSPHRASE, departments=DEPTS, now=NOW, crl_url=None)
    return ks


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many key files were opened (decrypted) since the fixture was made."""
    count = [0]
    real = store_module.unseal_key

    def counting(data: bytes, passphrase: str) -> object:
        count[0] += 1
        return real(data, passphrase)

    monkeypatch.setattr(store_module, "unseal_key", counting)
    return count


def test_signing_after_the_start_check_opens_no_key_again(ks: KeyStore, opens: list[int]) -> None:
    ring = Keyring(ks, passphrase=PASSPHRASE)
    assert ring.unusable() == []
    at_start = opens[0]
    assert at_start >= 3  # each department's key and the service key, once
    assert len(ring[GZ_AMR].sign(b"m")) == 64
    assert len(ring[TH_CIVIL].sign(b"m")) == 64
    assert len(ring.service().sign(b"m")) == 64
    assert set(ring) == {GZ_AMR, TH_CIVIL}
    assert opens[0] == at_start


def test_a_key_that_does_not_open_is_named_and_nothing_is_kept(ks: KeyStore) -> None:
    entry = ks.active_entry(TH_CIVIL)
    assert entry is not None
    (ks.directory / entry.key_path).write_bytes(b"damaged")
    ring = Keyring(ks, passphrase=PASSPHRASE)
    assert ring.unusable() == [TH_CIVIL]
    with pytest.raises(KeyCustodyError):
        ring[GZ_AMR]  # the keyring is not half-loaded: it opens the store again, and fails


def test_a_rotation_after_the_start_check_is_seen(ks: KeyStore) -> None:
    ring = Keyring(ks, passphrase=PASSPHRASE)
    assert ring.unusable() == []
    before = ring[GZ_AMR].kid
    ks.rotate(GZ_AMR, passphrase=PASSPHRASE, now=NOW, crl_url=None)
    assert ring[GZ_AMR].kid != before
