"""The root offline (issue 19): made by its own ceremony, given to the commands that certify keys
for that command alone; the serving host's key store holds only the root certificate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from elicence.errors import KeyCustodyError
from elicence.keys import pki
from elicence.keys.root import RootSource, create_offline_root
from elicence.keys.store import DepartmentName, KeyStore
from elicence.registry import Registry
from tests.cli import cli
from tests.conftest import GZ_AMR, NOW, PASSPHRASE, production_catalogue, production_uscc

ROOT_PASSPHRASE = "offline-root-passphrase"  # a test value, not a secret
DEPTS = [DepartmentName(GZ_AMR, "广州市市场监督管理局")]


def _production_store(directory: Path) -> KeyStore:
    store = KeyStore(directory, scrypt_log2_n=10)
    store.root_in_store_allowed = False
    return store


@pytest.fixture
def root(tmp_path: Path) -> RootSource:
    directory = tmp_path / "root"
    create_offline_root(directory, passphrase=ROOT_PASSPHRASE, now=NOW, scrypt_log2_n=10)
    return RootSource(directory, ROOT_PASSPHRASE)


def test_a_production_store_never_makes_a_root_of_its_own(tmp_path: Path) -> None:
    store = _production_store(tmp_path / "keys")
    with pytest.raises(KeyCustodyError, match="root is kept offline") as caught:
        store.init(passphrase=PASSPHRASE, departments=DEPTS, now=NOW, crl_url=None)
    assert caught.value.field == "root_dir"
    assert not (tmp_path / "keys" / "root.crt.pem").exists()


def test_the_store_holds_the_root_certificate_only_and_ceremonies_take_the_root(
    tmp_path: Path, root: RootSource
) -> None:
    store = _production_store(tmp_path / "keys")
    store.root = root
    created = store.init(passphrase=PASSPHRASE, departments=DEPTS, now=NOW, crl_url=None)
    assert {e.department for e in created} == {None, GZ_AMR}
    assert store.root_certificate() == root.certificate()
    assert not (tmp_path / "keys" / "root.key").exists()
    for e in created:
        assert pki.issued_by(store.certificate(e), root.certificate())

    serving = _production_store(tmp_path / "keys")  # the serving host: no root given
    assert serving.department_signers(PASSPHRASE)[GZ_AMR].sign(b"x")  # it signs without it
    later = NOW + dt.timedelta(days=1)
    with pytest.raises(KeyCustodyError, match="root is offline"):
        serving.rotate(GZ_AMR, passphrase=PASSPHRASE, now=later, crl_url=None)
    with pytest.raises(KeyCustodyError, match="root is offline"):
        serving.resign_crl(passphrase=PASSPHRASE, now=later)

    serving.root = root  # the ceremony
    retired, new = serving.rotate(GZ_AMR, passphrase=PASSPHRASE, now=later, crl_url=None)
    assert retired is not None and pki.issued_by(serving.certificate(new), root.certificate())
    serving.resign_crl(passphrase=PASSPHRASE, now=later)
    assert serving.current_crl(later) is not None


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        pytest.param(
            lambda d: RootSource(d / "root", "not-the-root-passphrase"),
            "passphrase",
            id="wrong-passphrase",
        ),
        pytest.param(
            lambda d: RootSource(d / "other", ROOT_PASSPHRASE),
            "not this key store",
            id="another-root",
        ),
        pytest.param(
            lambda d: RootSource(d / "nothing", ROOT_PASSPHRASE),
            "no root certificate",
            id="empty-dir",
        ),
    ],
)
def test_a_wrong_root_is_refused(tmp_path: Path, root: RootSource, make, rule: str) -> None:  # type: ignore[no-untyped-def]
    store = _production_store(tmp_path / "keys")
    store.root = root
    store.init(passphrase=PASSPHRASE, departments=DEPTS, now=NOW, crl_url=None)
    create_offline_root(tmp_path / "other", passphrase=ROOT_PASSPHRASE, now=NOW, scrypt_log2_n=10)
    store.root = make(tmp_path)
    with pytest.raises(KeyCustodyError, match=rule):
        store.rotate(GZ_AMR, passphrase=PASSPHRASE, now=NOW, crl_url=None)


def _production(data: Path, *, root_passphrase: str | None) -> dict[str, str | None]:
    """The environment of a production service whose data is in ``data`` (SQLite there), with
    the root's passphrase given or not."""
    return {
        "ELICENCE_ENV": "production",
        "ELICENCE_DATA_DIR": str(data),
        "ELICENCE_PUBLIC_BASE_URL": "https://zz.gdzwfw.example.gov.cn",
        "ELICENCE_KEY_PASSPHRASE": "a-real-production-secret",
        "ELICENCE_DATABASE_URL": None,
        "ELICENCE_ROOT_PASSPHRASE": root_passphrase,
    }


def test_a_root_is_made_once(tmp_path: Path, root: RootSource) -> None:
    with pytest.raises(KeyCustodyError, match="already holds a root"):
        create_offline_root(root.directory, passphrase=ROOT_PASSPHRASE, now=NOW)


def test_the_production_ceremony_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    root_dir = tmp_path / "usb" / "root"
    env = _production(data, root_passphrase=None)

    def run(*args: object, root_passphrase: str | None = ROOT_PASSPHRASE):  # type: ignore[no-untyped-def]
        return cli(
            None, *[str(a) for a in args], **{**env, "ELICENCE_ROOT_PASSPHRASE": root_passphrase}
        )

    no_passphrase = run("keys", "root-create", "--dir", root_dir, root_passphrase=None)
    assert no_passphrase.exit_code == 3 and "ELICENCE_ROOT_PASSPHRASE" in no_passphrase.stderr
    made = run("keys", "root-create", "--dir", root_dir)
    assert made.exit_code == 0, made.output
    assert ROOT_PASSPHRASE not in made.output

    data.mkdir(mode=0o700)  # as docs/deployment.md's `install -d` makes it: only init makes one
    catalogue = production_catalogue(tmp_path)
    refused = run("catalogue", "import", catalogue)
    assert refused.exit_code == 3 and "--root-dir" in refused.stderr
    registry = Registry.from_url(f"sqlite:///{data / 'elicence.db'}")
    assert registry.catalogue_version() is None  # refused before anything was stored
    registry.dispose()
    imported = run("catalogue", "import", catalogue, "--root-dir", root_dir)
    assert imported.exit_code == 0, imported.output
    keys = data / "keys"
    assert (keys / "root.crt.pem").read_bytes() == (root_dir / "root.crt.pem").read_bytes()
    assert not (keys / "root.key").exists()

    department = production_uscc(GZ_AMR)
    rotate = run("keys", "rotate", department)
    assert rotate.exit_code == 3 and "--root-dir" in rotate.stderr
    assert run("keys", "rotate", department, "--root-dir", root_dir).exit_code == 0
    crl = run("keys", "crl", "--root-dir", root_dir)
    assert crl.exit_code == 0 and "next update" in crl.stdout
    assert not (keys / "root.key").exists()


def test_a_catalogue_that_moves_a_type_to_sm2_needs_the_root_for_the_new_sm2_keys(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    root_dir = tmp_path / "usb" / "root"
    env = _production(data, root_passphrase=ROOT_PASSPHRASE)

    def run(*args: object):  # type: ignore[no-untyped-def]
        return cli(None, *args, **env)

    assert run("keys", "root-create", "--dir", root_dir).exit_code == 0
    data.mkdir(mode=0o700)
    catalogue = production_catalogue(tmp_path)
    assert run("catalogue", "import", catalogue, "--root-dir", root_dir).exit_code == 0
    food = "  - code: 11100000000013338W011\n"
    text = catalogue.read_text(encoding="utf-8")
    assert food in text
    sm2 = tmp_path / "sm2.yaml"
    sm2.write_text(text.replace(food, food + "    algorithm: SM2\n"), encoding="utf-8")
    refused = run("catalogue", "import", sm2)  # every department has its P-256 key already
    assert refused.exit_code == 3 and "--root-dir" in refused.stderr
    imported = run("catalogue", "import", sm2, "--root-dir", root_dir)
    assert imported.exit_code == 0, imported.output
    listed = run("keys", "list").stdout.splitlines()
    department = production_uscc(GZ_AMR)
    assert any(department in line and "[SM2]" in line for line in listed)
    assert not (data / "keys" / "root.key").exists()
