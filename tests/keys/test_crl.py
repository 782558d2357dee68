"""The root's CRL in the key store: made by ``init`` and ``rotate`` with the root key, renewed by
``init`` once half its period is gone, read by the API process without the root key.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from elicence.keys.store import CRL_FILE, DepartmentName, KeyStore
from tests.conftest import GZ_AMR, NOW, PASSPHRASE

DEPTS = [DepartmentName(GZ_AMR, "广州市市场监督管理局")]


def _store(tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "keys", scrypt_log2_n=10)
    store.init(passphrase=PASSPHRASE, departments=DEPTS, now=NOW, crl_url="https://x/api/v1/crl")
    return store


def _crl(store: KeyStore) -> x509.CertificateRevocationList:
    der = store.crl()
    assert der is not None
    return x509.load_der_x509_crl(der)


def test_init_makes_a_crl_signed_by_the_root(tmp_path: Path) -> None:
    store = _store(tmp_path)
    crl = _crl(store)
    root = store.root_certificate()
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert crl.last_update_utc == NOW
    assert crl.next_update_utc == NOW + dt.timedelta(days=30)
    assert len(crl) == 0
    assert store.current_crl(NOW + dt.timedelta(days=29)) == store.crl()
    assert store.current_crl(NOW + dt.timedelta(days=30)) is None  # stale: not embedded


def test_init_renews_the_crl_only_past_half_its_period(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = store.crl()
    store.init(
        passphrase=PASSPHRASE, departments=DEPTS, now=NOW + dt.timedelta(days=10), crl_url=None
    )
    assert store.crl() == first
    later = NOW + dt.timedelta(days=16)
    store.init(passphrase=PASSPHRASE, departments=DEPTS, now=later, crl_url=None)
    assert _crl(store).last_update_utc == later


def test_rotate_signs_a_new_crl(tmp_path: Path) -> None:
    store = _store(tmp_path)
    later = NOW + dt.timedelta(days=1)
    store.rotate(GZ_AMR, passphrase=PASSPHRASE, now=later, crl_url=None)
    assert _crl(store).last_update_utc == later
    assert (store.directory / CRL_FILE).stat().st_mode & 0o777 == 0o644


def test_a_store_without_a_crl_reads_none(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (store.directory / CRL_FILE).unlink()
    assert store.crl() is None and store.current_crl(NOW) is None
