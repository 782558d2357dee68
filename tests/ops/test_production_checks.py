"""Safe to run in production (issue 16 §4): ``elicence serve`` and ``elicence db upgrade`` (the
unit's pre-start) refuse demo data in production, recognised by content, and keys that do not
open with the passphrase; ``/healthz`` says who cannot sign without naming a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.bootstrap import assemble
from elicence.formats.catalogue_file import DEMO_CATALOGUE
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from tests.cli import cli
from tests.conftest import GZ_AMR, SZ_AMR, Clock, production_catalogue
from tests.test_cli import PRODUCTION

REAL = PRODUCTION["ELICENCE_KEY_PASSPHRASE"]
DEV = {"ELICENCE_ENV": "development"}


def _in_production(
    command: list[str], *, data: Path, **settings: str
) -> subprocess.CompletedProcess[str]:
    """``elicence <command>`` in a child process with the production settings (no other
    ``ELICENCE_*`` of ours), its data in ``data``, and ``settings`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELICENCE_")}
    env |= {**PRODUCTION, "ELICENCE_DATA_DIR": str(data), **settings}
    return subprocess.run(
        [sys.executable, "-m", "elicence.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _installation(tmp_path: Path, *, passphrase: str | None) -> Path:
    """A data dir made in development with a real catalogue and keys sealed under
    ``passphrase`` (None: the development passphrase); no demo clients."""
    data = tmp_path / "data"
    env = {**DEV, "ELICENCE_KEY_PASSPHRASE": passphrase}
    assert cli(data, "init", "--no-demo", **env).exit_code == 2  # makes the dir: no catalogue
    assert cli(data, "catalogue", "import", production_catalogue(tmp_path), **env).exit_code == 0
    assert cli(data, "init", "--no-demo", **env).exit_code == 0
    return data


def _demo_clients_file(data: Path) -> None:
    (data / "demo-clients.json").write_text(json.dumps({"admin": {"api_key": "x"}}))


def _demo_client(data: Path) -> None:
    made = cli(data, "clients", "add", "--name", "demo admin", "--role", "admin",
               ELICENCE_KEY_PASSPHRASE=REAL)  # fmt: skip
    assert made.exit_code == 0, made.stderr


def _demo_catalogue_copy(data: Path) -> None:
    copy = data.parent / "our-catalogue.yaml"  # another name, the demo's content
    copy.write_text(DEMO_CATALOGUE.read_text(encoding="utf-8"), encoding="utf-8")
    done = cli(data, "catalogue", "import", copy, ELICENCE_KEY_PASSPHRASE=REAL)
    assert done.exit_code == 0, done.stderr


CASES = [
    pytest.param(REAL, _demo_clients_file, "demo-clients.json", id="demo-clients-file"),
    pytest.param(REAL, _demo_client, "enabled demo clients", id="demo-client-enabled"),
    pytest.param(REAL, _demo_catalogue_copy, "the demo catalogue", id="demo-catalogue-copy"),
    pytest.param(None, None, "development passphrase", id="demo-keys"),
]


@pytest.mark.parametrize(("passphrase", "plant", "found"), CASES)
def test_production_refuses_demo_data_recognised_by_content(
    tmp_path: Path, passphrase: str | None, plant: object, found: str
) -> None:
    data = _installation(tmp_path, passphrase=passphrase)
    if callable(plant):
        plant(data)
    result = cli(data, "db", "upgrade", **PRODUCTION)
    assert result.exit_code == 3, result.stdout
    assert "refuses demo data" in result.stderr and found in result.stderr
    assert "ELICENCE_DATA_DIR to a new directory" in result.stderr  # what to do
    assert "/keys/" not in result.stderr  # no key file named


def test_production_serves_a_real_installation(tmp_path: Path) -> None:
    data = _installation(tmp_path, passphrase=REAL)
    result = cli(data, "db", "upgrade", **PRODUCTION)
    assert result.exit_code == 0, result.stderr


def test_a_data_dir_made_by_init_demo_is_refused_by_serve_in_production(tmp_path: Path) -> None:
    """The reproduction: `init --demo`, then production with a new passphrase: `serve` refuses
    before it listens (it used to serve, and the demo admin key read everything)."""
    data = tmp_path / "data"
    assert cli(data, "init").exit_code == 0
    done = _in_production(["serve"], data=data, ELICENCE_PORT="1")
    assert done.returncode == 3, done.stderr
    assert "refuses demo data" in done.stderr
    for what in ("demo-clients.json", "enabled demo clients", "the demo catalogue",
                 "development passphrase"):  # fmt: skip
        assert what in done.stderr


# -- a wrong passphrase -----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve"]], ids=" ".join)
def test_a_wrong_passphrase_refuses_to_start(tmp_path: Path, command: list[str]) -> None:
    data = _installation(tmp_path, passphrase=REAL)
    done = _in_production(
        command, data=data, ELICENCE_KEY_PASSPHRASE="not-the-passphrase-of-these-keys"
    )
    assert done.returncode == 3, done.stderr
    assert "do not open with ELICENCE_KEY_PASSPHRASE" in done.stderr
    assert "root" in done.stderr and "service" in done.stderr
    assert ".key" not in done.stderr and str(data) not in done.stderr.split("\n", 1)[1]


def _service_with(keys_dir: Path, tmp_path: Path, passphrase: str, clock: Clock, demo_catalogue):  # type: ignore[no-untyped-def]
    registry = Registry.from_url(f"sqlite:///{tmp_path / 'h.db'}")
    registry.upgrade()
    registry.save_catalogue(demo_catalogue, now=clock())
    return assemble(
        registry=registry,
        keystore=KeyStore(keys_dir, scrypt_log2_n=10),
        passphrase=passphrase,
        public_base_url="https://hall.example.gov.cn",
        clock=clock,
    )


def test_healthz_says_who_cannot_sign_without_naming_files(
    tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue
) -> None:  # type: ignore[no-untyped-def]
    svc = _service_with(keys_dir, tmp_path, "a-wrong-passphrase-here", clock, demo_catalogue)
    with TestClient(create_app(svc)) as api:
        body = api.get("/healthz").json()
    assert body["status"] == "degraded"
    assert GZ_AMR in body["signers_unavailable"] and "service" in body["signers_unavailable"]
    assert "/" not in json.dumps(body["signers_unavailable"])
    svc.close()


def test_healthz_names_the_one_department_whose_key_file_is_damaged(
    tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import PASSPHRASE

    svc = _service_with(keys_dir, tmp_path, PASSPHRASE, clock, demo_catalogue)
    with TestClient(create_app(svc)) as api:
        assert api.get("/healthz").json()["status"] == "ok"
        entry = KeyStore(keys_dir).active_entry(SZ_AMR)
        assert entry is not None
        (keys_dir / entry.key_path).write_bytes(b"damaged")
        os.utime(keys_dir / "manifest.json")  # the store changed: checked again
        body = api.get("/healthz").json()
    assert body["status"] == "degraded" and body["signers_unavailable"] == [SZ_AMR]
    svc.close()


def test_healthz_says_so_when_the_key_store_manifest_is_unreadable(
    tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import PASSPHRASE

    svc = _service_with(keys_dir, tmp_path, PASSPHRASE, clock, demo_catalogue)
    (keys_dir / "manifest.json").write_text("{not json")
    with TestClient(create_app(svc)) as api:
        r = api.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "degraded" and r.json()["signers_unavailable"] == ["key store"]
    svc.close()
