""":class:`RedisLimiter`: GCRA buckets in Redis, shared by every worker process and host.

One Lua script reads a bucket's TAT, decides and writes it back atomically (Redis runs a script
alone), with the same arithmetic as :func:`elicence.domain.limits.admit` and the time given by
the caller. Each key expires when its bucket would be full again, so Redis keeps only live
buckets.

Invariant: when Redis cannot be reached the limiter *admits* (fails open) and logs, at most once
a minute: a rate limit protects the service, and an outage of the limiter must not become an
outage of verification. The refusal of bad API keys still happens (401); only the 429 is lost.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from elicence.domain.limits import Decision, Rate
from elicence.errors import SettingsError

log = logging.getLogger("elicence.ratelimit")

# KEYS[1] bucket; ARGV: now, cost x interval, burst x interval. Returns {admitted, tat-or-wait}.
# Floats travel as strings: Redis turns Lua numbers into integers.
_GCRA = """
local now = tonumber(ARGV[1])
local inc = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new = tat + inc
local over = new - now - cap
if over > 1e-9 then
  return {0, tostring(over), tostring(tat)}
end
redis.call('SET', KEYS[1], tostring(new), 'PX', math.ceil((new - now) * 1000) + 1000)
return {1, '0', tostring(new)}
"""


class RedisLimiter:
    """Buckets in Redis under ``prefix``; fails open when Redis is unreachable."""

    name = "redis"

    def __init__(self, url: str, *, prefix: str = "elicence:rl:", timeout: float = 0.25) -> None:
        try:
            self._redis: Any = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        except ValueError as e:
            raise SettingsError(f"{url!r} is not a Redis URL: {e}", field="redis_url") from e
        self._script = self._redis.register_script(_GCRA)
        self._prefix = prefix
        self._warned = 0.0
        self.failures = 0  # requests admitted because Redis did not answer (for operators)

    def hit(self, key: str, rate: Rate, *, now: float, cost: int = 1) -> Decision:
        cost = min(max(cost, 1), rate.burst)
        try:
            allowed, value, tat = self._script(
                keys=[self._prefix + key],
                args=[repr(now), repr(cost * rate.interval), repr(rate.burst * rate.interval)],
            )
        except redis.RedisError as e:
            self.failures += 1
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                log.error("rate limiter: Redis unreachable, admitting requests: %s", e)
            return Decision(True, now)
        if int(allowed):
            return Decision(True, float(tat))
        return Decision(False, float(tat), float(value))

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._redis.close()
