"""File modes, the data dir the CLI uses, and the public base URL (issue 16 §4).

- the data dir is 0700, ``elicence.db`` and its ``-wal``/``-shm`` 0600, key files 0600, set at
  creation (under a permissive umask) and tightened with a warning at start; a backup's files
  0600 and directories 0700;
- every command says which data dir it uses, and none but ``init`` creates one;
- in development the public base URL follows the port (QR codes, verification URLs, the sign-in
  redirect); production refuses one that is not https or that is this machine.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from elicence.errors import SettingsError
from elicence.settings import Settings
from tests.cli import cli
from tests.conftest import food_permit
from tests.test_cli import PRODUCTION
from tests.test_mirror_processes import free_port


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that leaves new files world-readable, as a default Debian login's (022) does."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_init_makes_a_private_data_dir_database_and_keys(tmp_path: Path, open_umask: None) -> None:
    data = tmp_path / "data"
    assert cli(data, "init").exit_code == 0
    assert cli(data, "clients", "add", "--name", "h", "--role", "hall").exit_code == 0
    assert _mode(data) == 0o700
    assert _mode(data / "keys") == 0o700
    db_files = [data / "elicence.db", data / "elicence.db-wal", data / "elicence.db-shm"]
    for f in db_files:
        if f.exists():  # -wal and -shm exist while a connection is open or after a crash
            assert _mode(f) == 0o600, f
    assert _mode(db_files[0]) == 0o600
    keys = list((data / "keys").rglob("*.key"))
    assert keys and all(_mode(k) == 0o600 for k in keys)


def test_the_wal_and_shm_files_take_the_database_files_mode(
    tmp_path: Path, open_umask: None
) -> None:
    from elicence.registry import Registry

    registry = Registry.from_url(f"sqlite:///{tmp_path / 'r.db'}")
    registry.upgrade()
    with registry.engine.connect() as c:  # an open connection keeps -wal and -shm
        c.exec_driver_sql("SELECT 1").all()
        for name in ("r.db", "r.db-wal", "r.db-shm"):
            assert _mode(tmp_path / name) == 0o600, name
    registry.dispose()


def test_modes_opened_up_are_tightened_at_start_with_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, "init").exit_code == 0
    key = next((data / "keys").rglob("*.key"))
    data.chmod(0o755)
    (data / "elicence.db").chmod(0o644)
    key.chmod(0o644)
    result = cli(data, "db", "upgrade")
    assert result.exit_code == 0, result.stderr
    assert f"warning: {data} was mode 755: made it 700" in result.stderr
    assert f"warning: {data / 'elicence.db'} was mode 644: made it 600" in result.stderr
    assert f"warning: {key} was mode 644: made it 600" in result.stderr
    assert (_mode(data), _mode(data / "elicence.db"), _mode(key)) == (0o700, 0o600, 0o600)
    again = cli(data, "db", "upgrade")
    assert "warning" not in again.stderr  # nothing left to tighten


def test_a_backup_is_private(tmp_path: Path, open_umask: None) -> None:
    data = tmp_path / "data"
    assert cli(data, "init").exit_code == 0
    out = tmp_path / "backup"
    assert cli(data, "backup", "create", out).exit_code == 0
    entries = [out, *out.rglob("*")]
    assert any(p.name == "registry.sqlite" for p in entries)
    for p in entries:
        assert _mode(p) == (0o700 if p.is_dir() else 0o600), p


# -- the data dir -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["clients", "list"], ["keys", "list"], ["db", "upgrade"], ["catalogue", "show"]],
    ids=" ".join,
)
def test_no_command_but_init_creates_a_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Run from another directory without ELICENCE_DATA_DIR: it used to create ./var there
    and fail with a misleading error; now it says which data dir it looked for and stops."""
    monkeypatch.chdir(tmp_path)
    result = cli(tmp_path, *command, ELICENCE_DATA_DIR=None)
    assert result.exit_code == 3
    assert f"elicence: data dir {tmp_path / 'var'}" in result.stderr
    assert "no data dir at" in result.stderr and "elicence init" in result.stderr
    assert not (tmp_path / "var").exists()


def test_every_command_says_its_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = cli(data, "init")
    assert made.stderr.splitlines()[0] == f"elicence: data dir {data}"
    listed = cli(data, "clients", "list")
    assert listed.exit_code == 0 and f"elicence: data dir {data}" in listed.stderr


# -- the public base URL ----------------------------------------------------------------------


def test_in_development_the_public_base_url_follows_the_port() -> None:
    assert Settings(port=8123).base_url == "http://127.0.0.1:8123"
    assert Settings(host="0.0.0.0", port=9000).base_url == "http://127.0.0.1:9000"
    assert Settings(port=8123, public_base_url="http://dev.example/").base_url == (
        "http://dev.example"
    )


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(None, id="unset"),
        pytest.param("http://zz.gdzwfw.gov.cn", id="not-https"),
        pytest.param("https://localhost:8443", id="localhost"),
        pytest.param("https://127.0.0.1", id="loopback-v4"),
        pytest.param("https://[::1]:8443", id="loopback-v6"),
        pytest.param("https://0.0.0.0", id="unspecified"),
        pytest.param("https://hall.localhost", id="dot-localhost"),
        pytest.param("https://", id="no-host"),
    ],
)
def test_production_refuses_a_public_base_url_halls_cannot_reach(url: str | None) -> None:
    with pytest.raises(SettingsError) as e:
        Settings(
            env="production",
            key_passphrase=PRODUCTION["ELICENCE_KEY_PASSPHRASE"],
            public_base_url=url,
        )
    assert e.value.field == "public_base_url"


def test_production_accepts_an_https_public_base_url() -> None:
    s = Settings(env="production", key_passphrase="a-real-production-secret",
                 public_base_url="https://zz.gdzwfw.gov.cn/")  # fmt: skip
    assert s.base_url == "https://zz.gdzwfw.gov.cn"


@pytest.mark.slow
def test_serve_on_another_port_points_codes_and_sign_in_at_that_port(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, "init").exit_code == 0
    keys = json.loads((data / "demo-clients.json").read_text())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELICENCE_")}
    env["ELICENCE_DATA_DIR"] = str(data)
    server = subprocess.Popen(
        [sys.executable, "-m", "elicence.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            for _ in range(300):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            dept = {"Authorization": f"Bearer {keys['department']['api_key']}"}
            issued = http.post("/api/v1/licences", json=food_permit(), headers=dept)
            assert issued.status_code == 201, issued.text
            assert issued.json()["verification_url"].startswith(f"{base}/v#")
            login = http.get("/login")
            assert login.status_code == 303
            location = urlsplit(login.headers["location"])
            assert f"{location.scheme}://{location.netloc}" == base
            redirect = parse_qs(location.query)["redirect_uri"][0]
            assert redirect == f"{base}/login/callback"
    finally:
        server.terminate()
        server.wait(20)


def test_db_upgrade_does_not_print_the_database_password(tmp_path: Path) -> None:
    from elicence.cli.setup import _without_password

    assert _without_password("postgresql+psycopg://elicence:s3cret@db:6432/elicence") == (
        "postgresql+psycopg://elicence:***@db:6432/elicence"
    )
    assert _without_password("sqlite:////var/lib/elicence/elicence.db") == (
        "sqlite:////var/lib/elicence/elicence.db"
    )
