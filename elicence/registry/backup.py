"""Registry: dumping and restoring the registry database: ``pg_dump``/``pg_restore`` (custom format)
on PostgreSQL, SQLite's online backup API on SQLite.

Invariants: a dump is one consistent snapshot (pg_dump's transaction, SQLite's backup API); a
restore goes only into an empty database (no tables at all), so it never mixes two registries;
the password of a PostgreSQL URL travels in ``PGPASSWORD``, never on a command line.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from elicence.errors import RegistryError
from elicence.registry.engine import Database
from elicence.registry.migrate import current
from elicence.registry.tables import CLIENTS, EVENTS, LICENCES
from elicence.registry.trail import TRAIL

PG_DUMP_FILE = "registry.pgdump"
SQLITE_FILE = "registry.sqlite"


def dump_database(database: Database, directory: Path) -> str:
    """Write a snapshot of the database into ``directory``; the file's name."""
    engine = database.engine
    if engine.dialect.name == "postgresql":
        target = directory / PG_DUMP_FILE
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target)], engine.url)
        return target.name
    if engine.dialect.name == "sqlite":
        source = engine.url.database
        if not source or source == ":memory:":
            raise RegistryError("an in-memory SQLite registry cannot be backed up")
        target = directory / SQLITE_FILE
        try:
            src, dst = sqlite3.connect(source), sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
        except sqlite3.Error as e:
            raise RegistryError(f"could not back up {source}: {e}") from e
        return target.name
    raise RegistryError(f"cannot back up a {engine.dialect.name} database")


def restore_database(database: Database, file: Path) -> None:
    """Load a dump made by :func:`dump_database` into the empty database of ``engine``."""
    engine = database.engine
    if not is_empty(database):
        raise RegistryError(
            f"the database {engine.url.render_as_string(hide_password=True)} is not empty: "
            "restore only into a new database"
        )
    if engine.dialect.name == "postgresql":
        if file.name != PG_DUMP_FILE:
            raise RegistryError(f"{file.name} is not a PostgreSQL dump ({PG_DUMP_FILE})")
        engine.dispose()
        _run(
            ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", str(file)],
            engine.url,
            database_flag="--dbname",
        )
        return
    if engine.dialect.name == "sqlite":
        if file.name != SQLITE_FILE:
            raise RegistryError(f"{file.name} is not a SQLite backup ({SQLITE_FILE})")
        target = engine.url.database
        if not target or target == ":memory:":
            raise RegistryError("restore into a SQLite file, not memory")
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)
        shutil.copyfile(file, target)
        return
    raise RegistryError(f"cannot restore into a {engine.dialect.name} database")


def is_empty(database: Database) -> bool:
    """True when the database holds no table at all."""
    engine = database.engine
    try:
        return not inspect(engine).get_table_names()
    except SQLAlchemyError as e:
        raise RegistryError(f"cannot read the database: {e}") from e


def schema_revision(database: Database) -> str | None:
    engine = database.engine
    try:
        return current(engine)
    except SQLAlchemyError as e:
        raise RegistryError(f"cannot read the schema revision: {e}") from e


def counts(database: Database) -> dict[str, int]:
    """How many licences, events, clients and audit records the database holds."""
    engine = database.engine
    try:
        with engine.connect() as c:
            return {
                name: int(c.scalar(select(func.count()).select_from(table)) or 0)
                for name, table in (
                    ("licences", LICENCES),
                    ("events", EVENTS),
                    ("clients", CLIENTS),
                    ("audit_records", TRAIL),
                )
            }
    except SQLAlchemyError as e:
        raise RegistryError(f"cannot count the registry's rows: {e}") from e


def _run(command: list[str], url: URL, *, database_flag: str = "--dbname") -> None:
    program = shutil.which(command[0])
    if program is None:
        raise RegistryError(f"{command[0]} is not installed (Debian: postgresql-client)")
    # The password goes in the child's environment only (not on its command line, which any
    # local user can read); without one, the child inherits ours (PGPASSFILE, PGSSLMODE …).
    env = None if url.password is None else {"PGPASSWORD": str(url.password)}
    conninfo = url.set(drivername="postgresql", password=None).render_as_string()
    try:
        done = subprocess.run(  # noqa: S603 - fixed programs, arguments not from a shell
            [program, *command[1:], f"{database_flag}={conninfo}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RegistryError(f"{command[0]} failed: {e}") from e
    if done.returncode != 0:
        raise RegistryError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")
