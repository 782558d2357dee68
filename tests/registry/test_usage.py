"""Usage records (用证记录) are written behind the request, in order, and never silently lost."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from elicence.app.service import Elicence
from elicence.errors import RegistryError
from elicence.registry.writebehind import WriteBehind
from tests.conftest import NOW


def _row(i: int) -> dict[str, Any]:
    return {"i": i}


def test_rows_are_written_in_order_by_the_background_thread() -> None:
    written: list[list[dict[str, Any]]] = []
    wb = WriteBehind(written.append, interval=0.01)
    for i in range(5):
        wb.add(_row(i))
    deadline = time.monotonic() + 5
    while sum(len(b) for b in written) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r["i"] for b in written for r in b] == [0, 1, 2, 3, 4]
    wb.close()


def test_a_failed_write_keeps_its_rows_for_the_next_flush() -> None:
    calls: list[list[dict[str, Any]]] = []
    fail = [True]

    def write(rows: list[dict[str, Any]]) -> None:
        if fail[0]:
            raise RegistryError("database down")
        calls.append(rows)

    wb = WriteBehind(write, interval=3600)  # only explicit flushes in this test
    wb.add(_row(1))
    wb.add(_row(2))
    with pytest.raises(RegistryError):
        wb.flush()
    wb.add(_row(3))
    fail[0] = False
    wb.flush()
    assert [r["i"] for r in calls[0]] == [1, 2, 3]
    wb.close()


def test_close_writes_what_is_queued() -> None:
    written: list[dict[str, Any]] = []
    wb = WriteBehind(written.extend, interval=3600)
    wb.add(_row(7))
    wb.close()
    assert written == [_row(7)]


def test_verifications_are_recorded_with_their_client(service: Elicence) -> None:
    for i in range(3):
        service.registry.record_usage(
            at=NOW + dt.timedelta(seconds=i),
            client_id=None,
            identifier=f"id-{i}",
            channel="seal",
            verdict="valid",
        )
    rows = service.registry.usage()  # reading flushes first
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
