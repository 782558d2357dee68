"""Rate-limit counters: where the buckets of :mod:`elicence.domain.limits` are kept.

:class:`MemoryLimiter` keeps them in the process (the embedded default: each ``--workers``
process has its own buckets, so N workers admit up to N times a limit); :class:`RedisLimiter`
keeps them in Redis, shared by every worker and host. Both run the same GCRA arithmetic
(:func:`elicence.domain.limits.admit`) with the time the caller gives, so a test clock works
against either. Nothing here knows HTTP or who the caller is: ``app/guard.py`` decides that.
"""

from elicence.ratelimit.memory import Limiter, MemoryLimiter
from elicence.ratelimit.redisstore import RedisLimiter

__all__ = ["Limiter", "MemoryLimiter", "RedisLimiter"]
