"""A small rate limiter for the hall's no-login progress query (办件进度查询).

The query needs only a case number and the applicant's id, so it is the one door an outsider
could knock on repeatedly: each client address, and each case number, gets a token bucket.
:class:`Limiter` is the interface the router depends on; :class:`TokenBucketLimiter` is an
in-process implementation (one per worker: with N workers the allowance is N times larger).
A shared limiter (another branch adds one to ``api/``) can replace it behind the same method.

Invariant: a key that is refused consumes nothing, so a refused caller's bucket still refills.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Limiter(Protocol):
    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when it has none left."""
        ...


class TokenBucketLimiter:
    """``capacity`` requests at once per key, refilled at ``per_second``."""

    MAX_KEYS = 100_000

    def __init__(
        self,
        *,
        capacity: float,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.per_second)
            if len(self._buckets) >= self.MAX_KEYS:
                self._forget_full(now)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1, now)
            return True

    def _forget_full(self, now: float) -> None:
        """Drop keys whose bucket has refilled (they are as if never seen)."""
        full = [
            k
            for k, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.per_second >= self.capacity
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.MAX_KEYS:  # all busy: start over rather than grow
            self._buckets.clear()


class ProgressLimits:
    """The two buckets of the progress query: per client address and per case number."""

    def __init__(self, *, per_client: Limiter, per_case: Limiter) -> None:
        self.per_client = per_client
        self.per_case = per_case

    @classmethod
    def default(cls) -> ProgressLimits:
        # 10 queries at once from one address, then one every 6 s; 5 per case, then 1 a minute
        return cls(
            per_client=TokenBucketLimiter(capacity=10, per_second=1 / 6),
            per_case=TokenBucketLimiter(capacity=5, per_second=1 / 60),
        )

    def allow(self, *, client: str, case_number: str) -> bool:
        return self.per_client.allow(f"client:{client}") and self.per_case.allow(
            f"case:{case_number}"
        )
