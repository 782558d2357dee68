"""Usage records (用证记录) are committed before the use is answered, concurrent ones in one\ntransaction, and never silently lost."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

from elicence.app.service import Elicence
from elicence.domain.clients import Role
from elicence.errors import RegistryError
from elicence.registry.groupwrite import RowGroupCommit
from tests.conftest import NOW


def _row(i: int) -> dict[str, Any]:
    return {"i": i}


def test_a_row_is_written_before_add_returns() -> None:
    written: list[list[dict[str, Any]]] = []
    gw = RowGroupCommit(written.append)
    for i in range(3):
        gw.add(_row(i))
        assert [r["i"] for b in written for r in b] == list(range(i + 1))  # durable on return
    assert gw.groups == 3  # a lone caller writes at once, a group of one


def test_concurrent_rows_share_a_write_and_each_caller_waits_for_its_own() -> None:
    """While one write is in progress, the callers that arrive queue and form the next group;
    each returns only once the write holding its row has returned."""
    started, release = threading.Event(), threading.Event()
    written: list[list[int]] = []

    def write(rows: list[dict[str, Any]]) -> None:
        if not written:  # the first group blocks until every other caller has queued
            started.set()
            release.wait(10)
        written.append([r["i"] for r in rows])

    gw = RowGroupCommit(write)
    returned: list[int] = []
    first = threading.Thread(target=lambda: (gw.add(_row(0)), returned.append(0)))
    first.start()
    assert started.wait(10)
    others = [
        threading.Thread(target=lambda i=i: (gw.add(_row(i)), returned.append(i)))
        for i in range(1, 9)
    ]
    for t in others:
        t.start()
    while len(gw._queue) < 8:  # every other caller queued behind the write in progress
        time.sleep(0.001)
    assert returned == []  # nobody answered before its row was written
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert written[0] == [0]
    assert sorted(written[1]) == list(range(1, 9))  # the rest shared one write
    assert sorted(returned) == list(range(9)) and gw.groups == 2


def test_a_failed_write_raises_in_its_callers_and_the_next_write_works() -> None:
    calls: list[list[dict[str, Any]]] = []
    fail = [True]

    def write(rows: list[dict[str, Any]]) -> None:
        if fail[0]:
            raise RegistryError("database down")
        calls.append(rows)

    gw = RowGroupCommit(write)
    with pytest.raises(RegistryError):
        gw.add(_row(1))  # not recorded: the caller must not answer as if it were
    fail[0] = False
    gw.add(_row(2))
    assert [r["i"] for b in calls for r in b] == [2]


def test_verifications_are_recorded_with_their_client(service: Elicence) -> None:
    for i in range(3):
        service.registry.record_usage(
            at=NOW + dt.timedelta(seconds=i),
            client_id=None,
            identifier=f"id-{i}",
            channel="seal",
            verdict="valid",
        )
    rows = service.registry.usage()
    assert [r["identifier"] for r in rows] == ["id-2", "id-1", "id-0"]


def test_sqlite_checkpoints_its_wal_in_the_background(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, demo_catalogue: Any
) -> None:
    """Issuance must not pay for WAL checkpoints: a thread runs them, and stops on dispose."""
    from elicence.registry import Registry, engine

    monkeypatch.setattr(engine, "WAL_CHECKPOINT_SECONDS", 0.02)
    registry = Registry.from_url(f"sqlite:///{tmp_path / 'wal.db'}")
    registry.upgrade()
    registry.save_catalogue(demo_catalogue, now=NOW)  # a write starts the checkpointer
    checkpoints = registry._checkpoints
    assert checkpoints is not None
    deadline = time.monotonic() + 5
    while checkpoints.done == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert checkpoints.done > 0
    with registry.engine.connect() as conn:
        busy, frames, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and frames == done  # nothing left behind
    registry.dispose()
    assert checkpoints._thread is not None and not checkpoints._thread.is_alive()
    assert Registry.from_url("sqlite://")._checkpoints is None  # memory: nothing to checkpoint


def test_a_record_the_registry_refuses_does_not_hold_back_the_others(service: Elicence) -> None:
    """A row refused for good (a client id the registry does not know) is dropped with a log
    line; the records queued around it are written, now and afterwards."""
    for i, client_id in enumerate([None, "c_unknown", None]):
        service.registry.record_usage(
            at=NOW + dt.timedelta(seconds=i),
            client_id=client_id,
            identifier=f"poison-{i}",
            channel="seal",
            verdict="valid",
        )
    service.registry.flush_usage()
    service.registry.record_usage(
        at=NOW + dt.timedelta(seconds=9), client_id=None, identifier="after", channel="seal",
        verdict="valid",
    )  # fmt: skip
    rows = service.registry.usage()
    assert [r["identifier"] for r in rows] == ["after", "poison-2", "poison-0"]


def test_postgresql_writes_a_group_in_one_query_and_drops_only_a_refused_row(
    pg_service: Elicence,
) -> None:
    """On PostgreSQL a group is one round trip (registry/pgusage.py: BEGIN, one INSERT of the
    rows as JSON, COMMIT); its rows read back exactly as given, and a row the database refuses
    sends the group row by row: the others are written, the refused one dropped."""
    registry = pg_service.registry
    at = dt.datetime(2026, 12, 6, 2, 30, 15, 123456, tzinfo=dt.UTC)

    def row(ident: str, client: str | None, case: str | None = None) -> dict[str, Any]:
        return {
            "at": at,
            "client_id": client,
            "identifier": ident,
            "channel": "seal",
            "verdict": "valid",
            "authenticated": client is not None,
            "case_number": case,
        }

    known = pg_service.clients.add(name="hall", role=Role.HALL, department=None).client.id
    registry._write_usage([row("pg-a", known, "2026120600000001"), row("pg-b", None)])
    registry._write_usage([row("pg-c", None), row("pg-poison", "c_unknown"), row("pg-d", known)])
    got = {r["identifier"]: r for r in registry.usage(limit=10)}
    assert set(got) == {"pg-a", "pg-b", "pg-c", "pg-d"}
    assert got["pg-a"]["at"] == at and got["pg-a"]["client_id"] == known
    assert got["pg-a"]["case_number"] == "2026120600000001"
    assert got["pg-b"]["client_id"] is None and got["pg-d"]["client_id"] == known
    assert registry._pg_usage is not None  # the one-query writer was the one used
