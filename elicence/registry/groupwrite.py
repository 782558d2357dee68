"""Rows written durably by a group commit: concurrent callers share one transaction.

Used for usage records (用证记录): a verification is answered only after its record is
committed (issue 16: the earlier 50 ms write-behind queue lost the records of answered
verifications when the process was killed). Concurrent verifications share one write: whoever
finds no write in progress leads and writes every row queued meanwhile in one transaction; the
others wait for that commit (or lead the next group). Nothing waits on a timer: a lone caller
writes at once, and groups grow only as far as concurrency makes them (the same discipline as
the issuer's group commit, ADR 0008, kept here because ``registry/`` may not import ``issuer/``).

Invariants: at most one write runs at a time per writer; every row is handed to ``write``
exactly once; :meth:`RowGroupCommit.add` returns only after the write that holds its row
committed, and raises that write's exception otherwise (the row is then not recorded, and the
caller must not answer as if it were).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

MAX_GROUP = 1000


class _Slot:
    __slots__ = ("done", "error", "lead", "row", "wake")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.done = False
        self.lead = False  # this caller leads the next group
        self.error: BaseException | None = None
        self.wake = threading.Lock()  # held until the caller is woken
        self.wake.acquire()


class RowGroupCommit:
    """Leader/follower group commit of rows through ``write(rows)`` (one transaction)."""

    def __init__(
        self, write: Callable[[list[dict[str, Any]]], None], *, max_group: int = MAX_GROUP
    ) -> None:
        self._write = write
        self._max = max(1, max_group)
        self._lock = threading.Lock()
        self._queue: list[_Slot] = []  # callers waiting, oldest first
        self._writing = False  # a leader is writing, or has been chosen to write next
        self.groups = 0  # groups written (tests, the benchmark)
        self.rows = 0
        # told of every group committed, with its rows (the operators' metrics, app/metrics.py)
        self.observers: list[Callable[[list[dict[str, Any]]], None]] = []

    def add(self, row: dict[str, Any]) -> None:
        """Write ``row`` (alone or with concurrent ones); return once it is committed."""
        slot = _Slot(row)
        with self._lock:
            self._queue.append(slot)
            if not self._writing:  # nobody writes: lead at once (the queue held only us)
                self._writing = slot.lead = True
        if not slot.lead:
            slot.wake.acquire()  # woken once: with an outcome, or to lead the next group
        if not slot.done:
            with self._lock:  # the leader is the oldest waiter, so its own row is taken
                group = self._queue[: self._max]
                del self._queue[: self._max]
            self._lead(group)
        if slot.error is not None:
            raise slot.error

    def _lead(self, group: list[_Slot]) -> None:
        error: BaseException | None = None
        try:
            self._write([s.row for s in group])
        except BaseException as e:  # every row of the group fails the same way
            error = e
        for slot in group:
            slot.error = error
            slot.done = True
        with self._lock:
            self.groups += 1
            self.rows += len(group)
            successor = self._queue[0] if self._queue else None
            if successor is not None:
                successor.lead = True  # the oldest waiter leads the next group
            else:
                self._writing = False
        for slot in group:
            slot.wake.release()
        if successor is not None:
            successor.wake.release()
        if error is None:  # after the callers are on their way; an observer never fails a write
            for observe in self.observers:
                try:
                    observe([s.row for s in group])
                except Exception:  # pragma: no cover - a metrics bug
                    logging.getLogger("elicence.registry").exception("a group observer failed")
