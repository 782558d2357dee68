"""The :class:`Limiter` protocol and the in-process :class:`MemoryLimiter`.

Invariants: a bucket is one float (its TAT) under one lock; the table never grows past
``max_buckets`` (full buckets, whose TAT is in the past, are dropped first: forgetting a full
bucket changes no decision).
"""

from __future__ import annotations

import threading
from typing import Protocol

from elicence.domain.limits import Decision, Rate, admit


class Limiter(Protocol):
    """Where buckets live. ``hit`` decides one request and charges it when admitted."""

    name: str

    def hit(self, key: str, rate: Rate, *, now: float, cost: int = 1) -> Decision: ...

    def close(self) -> None: ...


class MemoryLimiter:
    """Buckets in this process's memory (one process's view: see the package docstring)."""

    name = "memory"

    def __init__(self, *, max_buckets: int = 100_000) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max = max_buckets

    def hit(self, key: str, rate: Rate, *, now: float, cost: int = 1) -> Decision:
        with self._lock:
            decision = admit(self._tat.get(key), rate, now=now, cost=cost)
            if decision.allowed:
                if len(self._tat) >= self._max and key not in self._tat:
                    self._prune(now)
                self._tat[key] = decision.tat
            return decision

    def _prune(self, now: float) -> None:
        full = [k for k, tat in self._tat.items() if tat <= now]
        for k in full:
            del self._tat[k]
        if len(self._tat) >= self._max:  # a flood of live buckets: drop the oldest half
            for k in sorted(self._tat, key=self._tat.__getitem__)[: self._max // 2]:
                del self._tat[k]

    def close(self) -> None:
        with self._lock:
            self._tat.clear()

    def __len__(self) -> int:
        return len(self._tat)
