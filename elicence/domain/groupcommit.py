"""Group commit: concurrent callers share one write (docs/adr/0008-group-commit.md).

One discipline for both layers that need it: the issuer's single issuances
(``issuer/service.py``) and the registry's usage records (``registry/groupwrite.py``). It lives
here, below both, because ``registry/`` may not import ``issuer/``; it does no I/O itself.

A caller :meth:`~GroupCommit.submit`\\ s an item and blocks until the item has its outcome.
Whoever finds no write in progress becomes the *leader*: it takes the queued items (in arrival
order, at most ``max_group``), hands them to ``write`` in one call, publishes each item's outcome
and wakes their callers. Callers that arrived while a write was in progress have queued meanwhile
and form the next group, led by the oldest of them, whom the leader wakes to lead. Each caller
is woken exactly once (its own lock), so a group costs a wake-up per caller, not one per waiting
thread as a shared condition's ``notify_all`` would. Nothing waits on a timer: a lone caller
writes at once (a group of one), and groups grow only as far as concurrency makes them.

Invariants: at most one ``write`` runs at a time per committer; each item is handed to ``write``
exactly once and gets exactly one outcome, a value or an exception; an exception raised by
``write`` becomes the outcome of every item of that group and never kills the committer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_GROUP = 500


class _Slot(Generic[T, R]):
    __slots__ = ("done", "error", "item", "lead", "value", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.lead = False  # this caller leads the next group
        self.value: R | None = None
        self.error: BaseException | None = None
        self.wake = threading.Lock()  # held until the caller is woken (the cheapest signal)
        self.wake.acquire()


class GroupCommit(Generic[T, R]):
    """Leader/follower group commit around ``write``.

    ``write(items)`` returns one outcome per item, in order: the item's value, or the exception
    to raise in the caller that submitted it.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R | BaseException]],
        *,
        max_group: int = MAX_GROUP,
    ) -> None:
        self._write = write
        self._max = max(1, max_group)
        self._lock = threading.Lock()
        self._queue: list[_Slot[T, R]] = []  # callers waiting, oldest first
        self._writing = False  # a leader is writing, or has been chosen to write next
        self.groups = 0  # groups written (for tests and the benchmark)
        self.items = 0  # items written
        # told of every group written, with its outcomes (the operators' metrics, app/metrics.py)
        self.observers: list[Callable[[Sequence[T], Sequence[R | BaseException]], None]] = []

    def submit(self, item: T) -> R:
        """Write ``item`` (alone or with others); its value, or raise its exception."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            if not self._writing:  # nobody writes: lead at once (the queue held only us)
                self._writing = slot.lead = True
        if not slot.lead:
            slot.wake.acquire()  # woken once: with an outcome, or to lead the next group
        if not slot.done:
            with self._lock:  # the leader is the oldest waiter, so its own item is taken
                group = self._queue[: self._max]
                del self._queue[: self._max]
            self._lead(group)
        if slot.error is not None:
            raise slot.error
        return slot.value  # type: ignore[return-value]  # done without error: a value

    def _lead(self, group: list[_Slot[T, R]]) -> None:
        outcomes: Sequence[R | BaseException]
        try:
            outcomes = self._write([s.item for s in group])
            if len(outcomes) != len(group):  # pragma: no cover - a bug in ``write``
                raise RuntimeError("the group write gave the wrong number of outcomes")
        except BaseException as e:  # every item of the group fails the same way
            outcomes = [e] * len(group)
        for slot, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.value = outcome
            slot.done = True
        with self._lock:
            self.groups += 1
            self.items += len(group)
            successor = self._queue[0] if self._queue else None
            if successor is not None:
                successor.lead = True  # the oldest waiter leads the next group
            else:
                self._writing = False
        # Wake exactly the callers concerned (no herd): the group's, then the next leader.
        for slot in group:
            slot.wake.release()
        if successor is not None:
            successor.wake.release()
        if self.observers:  # after the callers are on their way
            _tell(self.observers, [s.item for s in group], outcomes)


def _tell(observers: list[Callable[..., None]], *args: Any) -> None:
    """Tell the observers of a group; an observer that fails never fails the group."""
    for observe in observers:
        try:
            observe(*args)
        except Exception:  # pragma: no cover - a metrics bug must not fail a write
            logging.getLogger("elicence").exception("a group commit observer failed")
