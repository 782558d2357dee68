"""The connections the registry opens: SQLite writers of one process take turns on one lock;
PostgreSQL reads run in autocommit and pooled connections the server closed are replaced."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.errors import RegistryError
from elicence.registry import engine as engine_module
from elicence.registry.engine import Database, open_engine


def test_sqlite_writers_of_one_process_take_turns_on_one_lock(tmp_path: Path) -> None:
    """Two stores on one engine (the registry and the hall's) share the lock: a second writer
    waits for the first transaction to end instead of sleeping in SQLite's busy handler."""
    engine = open_engine(f"sqlite:///{tmp_path / 'w.db'}")
    first, second = Database(engine), Database(engine)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (i INTEGER)"))
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with first.write() as c:
            c.execute(text("INSERT INTO t VALUES (1)"))
            order.append("first writes")
            inside.set()
            release.wait(30)
            order.append("first ends")

    def queue() -> None:
        inside.wait(30)
        with second.writing() as c:
            order.append("second begins")
            c.execute(text("INSERT INTO t VALUES (2)"))
            c.commit()

    threads = [threading.Thread(target=hold), threading.Thread(target=queue)]
    for t in threads:
        t.start()
    inside.wait(30)
    deadline = time.monotonic() + 0.2  # give the second writer every chance to jump the queue
    while time.monotonic() < deadline and "second begins" not in order:
        time.sleep(0.01)
    assert order == ["first writes"]  # it waits while the first transaction is open ...
    lock = second._write_lock.lock  # type: ignore[attr-defined]  # ... on the process's lock,
    assert lock is first._write_lock.lock  # type: ignore[attr-defined]  # which both share
    assert not lock.acquire(blocking=False)
    release.set()
    for t in threads:
        t.join(30)
    assert order == ["first writes", "first ends", "second begins"]
    with engine.connect() as c:
        assert c.execute(text("SELECT i FROM t ORDER BY i")).scalars().all() == [1, 2]
    engine.dispose()


def test_sqlite_write_lock_is_reentrant_and_released_after_errors(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'w.db'}")
    db = Database(engine)
    with pytest.raises(ValueError), db.write():
        raise ValueError("a use case failed half-way")
    done = threading.Event()

    def other() -> None:
        with db.write() as c:
            c.execute(text("SELECT 1"))
        done.set()

    t = threading.Thread(target=other)
    t.start()
    t.join(30)
    assert done.is_set()  # the failed transaction left the lock free
    engine.dispose()


@pytest.mark.postgres
def test_postgres_reads_run_in_autocommit_and_survive_a_dropped_connection(
    pg_service: Elicence,
) -> None:
    registry = pg_service.registry
    with registry.read() as c:
        assert c.connection.driver_connection.autocommit  # no BEGIN/ROLLBACK around a read
        assert c.execute(text("SELECT txid_current_if_assigned()")).scalar() is None
    with registry.snapshot() as c:  # several statements still share one transaction
        assert not c.connection.driver_connection.autocommit
    assert registry.catalogue_version() is not None  # a pooled connection now exists
    pooled = registry.engine.pool.checkedin()
    assert pooled >= 1
    url = registry.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:  # a restart, a failover, an operator
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
        assert killed is not None and killed[0] >= pooled
        deadline = time.monotonic() + 30  # termination is asynchronous
        while (
            time.monotonic() < deadline
            and (
                admin.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()
                or (0,)
            )[0]
        ):
            time.sleep(0.01)
    assert registry.catalogue_version() is not None  # the dead connection was replaced, no error


def test_a_postgres_connection_on_a_descriptor_over_1023_is_alive(pg_service: Elicence) -> None:
    """The liveness check once used select(), which refuses a descriptor over 1023: in a process
    with many files open every PostgreSQL connection was judged dead and each checkout failed
    ("This connection is closed": the reconnection attempts exhausted). A socket moved past
    1023 is judged by its state, alive while idle and dead once the server closes it."""
    import resource

    from elicence.registry.pgcopy import driver_alive

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    url = pg_service.registry.engine.url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as pg:
        # the lowest free descriptor from 1024 up (dup2 to a fixed number would close one in use)
        high = fcntl.fcntl(pg.pgconn.socket, fcntl.F_DUPFD, 1024)
        assert high >= 1024
        try:

            class Moved:  # the connection as driver_alive reads it, on the high descriptor
                pgconn = type("PG", (), {"status": pg.pgconn.status, "socket": high})()

            assert driver_alive(Moved())
            assert driver_alive(pg)
            pid = pg.info.backend_pid
            with psycopg.connect(url.render_as_string(hide_password=False)) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = time.monotonic() + 10  # termination is asynchronous
            while driver_alive(Moved()) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not driver_alive(Moved())
        finally:
            os.close(high)
        if soft < 2048:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_sqlite_writer_that_waits_too_long_for_its_turn_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As SQLite's busy timeout would: a clear RegistryError, never a hang."""
    monkeypatch.setattr(engine_module, "BUSY_SECONDS", 0.2)
    engine = open_engine(f"sqlite:///{tmp_path / 'w.db'}")
    db = Database(engine)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.write():
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(30)
    with pytest.raises(RegistryError, match="busy"), db.write():
        pass
    release.set()
    t.join(30)
    with db.write() as c:  # free again
        c.execute(text("SELECT 1"))
    engine.dispose()


def test_sqlite_writers_of_other_processes_take_turns_through_the_lock_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers of several processes on one file queue on flock beside it (issue 20: SQLite's
    busy handler let one worker starve the other's writers for up to a second). Another open
    file description holding the turn is, to flock, another process."""
    import fcntl
    import os

    monkeypatch.setattr(engine_module, "BUSY_SECONDS", 0.3)
    path = tmp_path / "w.db"
    db = Database(open_engine(f"sqlite:///{path}"))
    with db.write() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    for name in ("w.db-gate", "w.db-turn"):  # made private, as the database is
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    other = os.open(tmp_path / "w.db-turn", os.O_RDWR)  # the other process
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        with pytest.raises(RegistryError, match="busy"), db.write():
            pass  # waited for its turn, then gave up as SQLite's busy timeout would
        monkeypatch.setattr(engine_module, "BUSY_SECONDS", 30)
        done = threading.Event()

        def write() -> None:
            with db.write() as c:
                c.execute(text("INSERT INTO t VALUES (1)"))
            done.set()

        t = threading.Thread(target=write)
        t.start()
        assert not done.wait(0.1)  # waits while the other holds the turn
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    t.join(10)
    assert done.is_set()  # its turn came when the other let go
    with db.read() as c:
        assert c.execute(text("SELECT count(*) FROM t")).scalar() == 1
    db.dispose()
