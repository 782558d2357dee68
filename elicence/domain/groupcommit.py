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

A committer may let ``writers`` groups be written at once (default one): an item arriving
while that many are being written waits and joins the next group; one arriving while fewer are
leads a group at once. For writes that do not depend on each other's order (usage records on
PostgreSQL, each group its own transaction on its own connection), two writers halve the wait
of a caller that arrives just after a write began.

Invariants: at most ``writers`` writes run at a time per committer (one unless told); each item
is handed to ``write`` exactly once and gets exactly one outcome, a value or an exception; an
exception raised by ``write`` becomes the outcome of every item of that group and never kills
the committer.
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
        writers: int = 1,
    ) -> None:
        self._write = write
        self._max = max(1, max_group)
        self._writers = max(1, writers)
        self._lock = threading.Lock()
        self._queue: list[_Slot[T, R]] = []  # callers waiting, oldest first
        self._writing = 0  # leaders writing, or chosen to write next
        self.groups = 0  # groups written (for tests and the benchmark)
        self.items = 0  # items written
        # told of every group written, with its outcomes (the operators' metrics, app/metrics.py)
        self.observers: list[Callable[[Sequence[T], Sequence[R | BaseException]], None]] = []

    def submit(self, item: T) -> R:
        """Write ``item`` (alone or with others); its value, or raise its exception."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            if self._writing < self._writers:  # a writer is free: lead at once (the queue
                self._writing += 1  # held only us: nobody waits while a writer is free)
                slot.lead = True
        if not slot.lead:
            slot.wake.acquire()  # woken once: with an outcome, or to lead the next group
        if not slot.done:
            with self._lock:  # its own item, then the oldest that no other leader waits for
                group = [slot]
                for waiting in self._queue:
                    if len(group) >= self._max:
                        break
                    if not waiting.lead:
                        group.append(waiting)
                taken = {id(s) for s in group}
                self._queue = [s for s in self._queue if id(s) not in taken]
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
            # the oldest waiter not chosen already leads the next group (with more than one
            # writer, another leader may have chosen the oldest)
            successor = next((s for s in self._queue if not s.lead), None)
            if successor is not None:
                successor.lead = True
            else:
                self._writing -= 1
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
