"""Rate limits as values: a :class:`Rate` (so many per period, with a burst), its text form, and
the generic cell rate algorithm (GCRA) that decides one request against one bucket.

GCRA is a token bucket kept as a single number per bucket, its *theoretical arrival time*
(TAT): a bucket of ``burst`` tokens refilled one token every ``period / count`` seconds. A request
costing ``c`` tokens moves the TAT ``c`` emission intervals forward and is admitted while the
TAT stays within ``burst`` intervals of now. One number makes the same arithmetic easy to run in
memory and inside Redis (``elicence/ratelimit/``).

Invariants: :func:`admit` is pure (the caller gives the time, so tests move a clock instead of
sleeping); a refusal never changes the bucket; ``parse_rate(str(rate)) == rate``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from elicence.errors import InputError

UNITS: dict[str, float] = {"s": 1.0, "min": 60.0, "h": 3600.0}
_UNIT_WORDS = {"s": "s", "sec": "s", "second": "s", "m": "min", "min": "min", "minute": "min"}
_UNIT_WORDS |= {"h": "h", "hour": "h"}
_RATE = re.compile(
    r"^\s*(?P<count>\d{1,10})\s*/\s*(?P<unit>[a-z]+)\s*(?:(?:,\s*)?burst\s+(?P<burst>\d{1,10}))?\s*$"
)
MAX_COUNT = 1_000_000_000
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` requests per ``unit`` (``s``, ``min`` or ``h``), at most ``burst`` at once."""

    count: int
    unit: str
    burst: int

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise InputError(f"unit must be one of {', '.join(UNITS)}", field="rate")
        if not 1 <= self.count <= MAX_COUNT or not 1 <= self.burst <= MAX_COUNT:
            raise InputError(f"count and burst must be between 1 and {MAX_COUNT:,}", field="rate")

    @property
    def interval(self) -> float:
        """Seconds between two tokens."""
        return UNITS[self.unit] / self.count

    def __str__(self) -> str:
        return f"{self.count}/{self.unit} burst {self.burst}"


def parse_rate(text: str, *, field: str = "rate") -> Rate | None:
    """``"120/min burst 30"`` (burst defaults to the count), or ``"off"`` for no limit (None)."""
    if text.strip().lower() in ("off", "none", "unlimited"):
        return None
    m = _RATE.match(text.lower())
    word = m.group("unit") if m else ""
    if len(word) > 1 and word.endswith("s"):
        word = word[:-1]  # "seconds", "mins", "hours"
    unit = _UNIT_WORDS.get(word)
    if m is None or unit is None:
        raise InputError(
            f"{text!r} is not a rate: write COUNT/UNIT [burst N] with UNIT s, min or h "
            "(for example '120/min burst 30'), or 'off'",
            field=field,
        )
    count = int(m.group("count"))
    burst = int(m.group("burst")) if m.group("burst") else count
    try:
        return Rate(count, unit, burst)
    except InputError as e:
        raise InputError(f"{text!r}: {e.message}", field=field) from None


@dataclass(frozen=True, slots=True)
class Decision:
    """One request against one bucket: admitted, or refused for ``retry_after`` seconds."""

    allowed: bool
    tat: float  # the bucket's theoretical arrival time after this decision
    retry_after: float = 0.0

    @property
    def retry_after_seconds(self) -> int:
        """``Retry-After`` in whole seconds (at least 1 when refused)."""
        return max(1, math.ceil(self.retry_after - 1e-9)) if not self.allowed else 0


def admit(tat: float | None, rate: Rate, *, now: float, cost: int = 1) -> Decision:
    """Decide a request costing ``cost`` tokens against a bucket whose TAT is ``tat``.

    ``tat`` None is a new (full) bucket. A cost above the burst is charged as the burst, so an
    expensive request is possible on a full bucket, never more.
    """
    interval = rate.interval
    cost = min(max(cost, 1), rate.burst)
    start = now if tat is None or tat < now else tat
    new_tat = start + cost * interval
    over = new_tat - now - rate.burst * interval
    if over > 1e-9:
        return Decision(False, start, over)
    return Decision(True, new_tat)


def parse_networks(items: Iterable[str], *, field: str = "trusted_proxies") -> tuple[Network, ...]:
    """CIDRs or single addresses (of trusted reverse proxies); blanks are skipped."""
    out = []
    for item in items:
        if not item.strip():
            continue
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as e:
            raise InputError(
                f"{item.strip()!r} is not an IP address or network", field=field
            ) from e
    return tuple(out)
