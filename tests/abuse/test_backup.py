"""Backup and restore, tested end to end through the command line: a service with licences is
backed up (database, then key store), restored into a new database and a new directory, and
the restored service verifies every licence and passes ``registry audit``. PostgreSQL (the
production recipe of docs/deployment.md: pg_dump / pg_restore) and SQLite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.cli import cli
from tests.conftest import GZ_AMR, POSTGRES_URL, food_permit
from tests.test_cli import write_json


@pytest.fixture
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(source URL, target URL): two new, empty databases of the backend under test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips, or fails on CI, without a server
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    names = [f"elicence_backup_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with admin.connect() as c:
        for name in names:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    with admin.connect() as c:
        for name in names:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize(
    "two_databases",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
    indirect=True,
)
def test_a_restored_service_verifies_its_licences_and_passes_its_audit(
    tmp_path: Path, two_databases: tuple[str, str]
) -> None:
    source_db, target_db = two_databases
    here, there = tmp_path / "here", tmp_path / "there"
    assert cli(here, "init", ELICENCE_DATABASE_URL=source_db).exit_code == 0
    batch = write_json(tmp_path / "batch.json", [food_permit(f"GZ-BK-{i}") for i in range(5)])
    r = cli(here, "issue", batch, "--department", GZ_AMR, ELICENCE_DATABASE_URL=source_db)
    assert r.exit_code == 0, r.stderr
    identifiers = [item["identifier"] for item in json.loads(r.stdout)]
    r = cli(
        here,
        "issue",
        write_json(tmp_path / "one.json", food_permit("GZ-BK-one")),
        "--department",
        GZ_AMR,
        ELICENCE_DATABASE_URL=source_db,
    )
    assert r.exit_code == 0, r.stderr
    identifiers.append(json.loads(r.stdout)["identifier"])

    out = tmp_path / "backup-2026-11-28"
    r = cli(here, "backup", "create", out, ELICENCE_DATABASE_URL=source_db)
    assert r.exit_code == 0, r.stderr
    assert "backed up 6 licences" in r.stdout
    manifest = json.loads((out / "backup.json").read_text())
    assert manifest["counts"]["licences"] == 6
    assert "keys/manifest.json" in manifest["files"]
    assert not any("passphrase" in name for name in manifest["files"])

    r = cli(there, "backup", "restore", out, ELICENCE_DATABASE_URL=target_db)
    assert r.exit_code == 0, r.stderr
    assert "restored 6 licences" in r.stdout
    for ident in identifiers:
        r = cli(there, "verify", ident, ELICENCE_DATABASE_URL=target_db)
        assert r.exit_code == 0, r.stdout + r.stderr
        assert "verdict: valid" in r.stdout
    r = cli(there, "registry", "audit", ELICENCE_DATABASE_URL=target_db)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "ok: the chain, every checkpoint and every licence status agree" in r.stdout
    # the restored service issues on (its keys decrypt with the same passphrase)
    r = cli(
        there,
        "issue",
        write_json(tmp_path / "new.json", food_permit("GZ-BK-new")),
        "--department",
        GZ_AMR,
        ELICENCE_DATABASE_URL=target_db,
    )
    assert r.exit_code == 0, r.stderr
    r = cli(there, "trail", "list", "--action", "backup", ELICENCE_DATABASE_URL=target_db)
    assert "backup.restore" in r.stdout  # written into the restored registry
    r = cli(here, "trail", "list", "--action", "backup", ELICENCE_DATABASE_URL=source_db)
    assert "backup.create" in r.stdout  # written after the dump: only the source has it

    # a second restore into the same (now full) places is refused, nothing is overwritten
    r = cli(there, "backup", "restore", out, ELICENCE_DATABASE_URL=target_db)
    assert r.exit_code != 0
    assert "not empty" in r.stderr


def test_a_damaged_backup_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    assert cli(here, "init").exit_code == 0
    out = tmp_path / "backup"
    assert cli(here, "backup", "create", out).exit_code == 0
    key_file = next(
        p for p in (out / "keys").rglob("*") if p.is_file() and p.name != "manifest.json"
    )
    key_file.write_bytes(key_file.read_bytes() + b"\n")
    r = cli(there, "backup", "restore", out)
    assert r.exit_code == 2
    assert "does not match the backup's digest" in r.stderr
    assert not (there / "keys").exists()
    assert not (there / "elicence.db").exists()
    r = cli(there, "backup", "restore", tmp_path / "nowhere")
    assert r.exit_code == 2 and "backup.json" in r.stderr
    r = cli(here, "backup", "create", out)  # not into a used directory
    assert r.exit_code == 2 and "not empty" in r.stderr
