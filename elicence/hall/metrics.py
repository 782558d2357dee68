"""Hall (pure): 三率一数 and the composite score, computed from facts: pure formulas, no I/O.

The seed's four measures ("三率一数"), per group (a department, a division, a city, or all) and
period, every formula written out in ``docs/metrics.md`` (with a worked example a test
recomputes):

- 网上深化率 (online depth rate) = items at depth ≥ 2 / items, over the item catalogue in force
  at the end of the period;
- 网上办结率 (online completion rate) = cases completed (办结) in the period that were applied
  for online / cases completed in the period;
- 服务满意率 (satisfaction rate) = ratings of 4 or 5 stars / ratings given in the period;
- 网上申请到现场办理次数 (on-site visits per online case) = on-site visits of the online cases
  completed in the period / those cases.

The composite score (综合计分) adds the seed's three components, each 0–100:

- 服务能力 (capability), per item: depth (the deeper the better), its maximum on-site visits
  (the fewer the better, 少跑) and its promised days against the statutory limit (the shorter
  the better, 快办), averaged over the items;
- 网办效率 (efficiency): the online completion rate and the on-time completion rate (按时办结率),
  both counted over cases, so that an item weighs by its volume (业务量);
- 满意程度 (satisfaction): the mean stars, less the share of substantiated complaints (有效投诉);

weighted by the period's weights (:class:`~elicence.hall.items.ScoringWeights`). A measure
with nothing to count (no items, no completed cases, no ratings) is ``None``, never 0; the
composite then uses the components it has, their weights scaled to sum to 1.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from elicence.domain.licence import CHINA_TZ
from elicence.errors import InputError
from elicence.hall.items import DEFAULT_WEIGHTS, ScoringWeights, city_of

MAX_DAYS = 3 * 366
VISITS_CAP = 3  # 3 or more promised visits earn nothing for 少跑


class GroupBy(StrEnum):
    DEPARTMENT = "department"
    DIVISION = "division"  # the department's own division: a county, a city or the province
    CITY = "city"  # counties rolled up into their prefecture-level city
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Period:
    """A period of China calendar days, ``first`` to ``last`` inclusive."""

    label: str
    first: dt.date
    last: dt.date

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), CHINA_TZ)

    @property
    def end(self) -> dt.datetime:
        """The instant after the period (exclusive)."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), CHINA_TZ)


_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_YEAR = re.compile(r"(\d{4})")
_RANGE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")


def parse_period(value: object, *, field: str = "period") -> Period:
    """``2026-11`` (a month), ``2026-Q4``, ``2026`` or ``2026-11-01..2026-11-30`` (days)."""
    if not isinstance(value, str):
        raise InputError("must be YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD", field=field)
    text = value.strip()
    try:
        if m := _MONTH.fullmatch(text):
            year, month = int(m[1]), int(m[2])
            days = calendar.monthrange(year, month)[1]
            return Period(text, dt.date(year, month, 1), dt.date(year, month, days))
        if m := _QUARTER.fullmatch(text):
            year, q = int(m[1]), int(m[2])
            end_month = 3 * q
            return Period(
                text,
                dt.date(year, end_month - 2, 1),
                dt.date(year, end_month, calendar.monthrange(year, end_month)[1]),
            )
        if m := _YEAR.fullmatch(text):
            year = int(m[1])
            return Period(text, dt.date(year, 1, 1), dt.date(year, 12, 31))
        if m := _RANGE.fullmatch(text):
            start, stop = dt.date.fromisoformat(m[1]), dt.date.fromisoformat(m[2])
            if stop < start:
                raise InputError("the period ends before it starts", field=field)
            if (stop - start).days > MAX_DAYS:
                raise InputError(f"a period is at most {MAX_DAYS} days", field=field)
            return Period(text, start, stop)
    except ValueError:
        raise InputError(f"{text!r} is not a period of real dates", field=field) from None
    raise InputError("must be YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD", field=field)


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    DAYS = "days"  # a range of days, ``2026-11-01..2026-11-30``


def period_kind(period: Period) -> PeriodKind:
    """Which of the four forms of :func:`parse_period` ``period`` was written in."""
    if _MONTH.fullmatch(period.label):
        return PeriodKind.MONTH
    if _QUARTER.fullmatch(period.label):
        return PeriodKind.QUARTER
    if _YEAR.fullmatch(period.label):
        return PeriodKind.YEAR
    return PeriodKind.DAYS


MAX_TREND = 36


def preceding(period: Period, count: int) -> list[Period]:
    """The ``count`` periods of ``period``'s kind that end with it, oldest first: months
    before a month, quarters before a quarter, years before a year, ranges of as many days
    before a range. Fewer where the calendar begins (year 1)."""
    if not 1 <= count <= MAX_TREND:
        raise InputError(f"must be 1 to {MAX_TREND} periods", field="count")
    kind = period_kind(period)
    out: list[Period] = []
    if kind is PeriodKind.DAYS:
        span = period.last - period.first  # a range's length less one day
        last = period.last
        for _ in range(count):
            try:
                first = last - span
            except OverflowError:
                break
            out.append(Period(f"{first.isoformat()}..{last.isoformat()}", first, last))
            if first == dt.date.min:
                break
            last = first - dt.timedelta(days=1)
        return out[::-1]
    step = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}[kind]
    index = period.first.year * 12 + period.first.month - 1  # months since year 0
    for n in range(count):
        year, month0 = divmod(index - n * step, 12)
        if year < 1:
            break
        if kind is PeriodKind.MONTH:
            label = f"{year:04d}-{month0 + 1:02d}"
        elif kind is PeriodKind.QUARTER:
            label = f"{year:04d}-Q{month0 // 3 + 1}"
        else:
            label = f"{year:04d}"
        out.append(parse_period(label))
    return out[::-1]


# -- the facts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemFact:
    code: str
    department: str
    division: str
    depth: int
    max_visits: int
    promised_days: int
    statutory_days: int


@dataclass(frozen=True, slots=True)
class CaseFact:
    """A case completed (办结) in the period."""

    number: str
    department: str
    division: str
    online: bool
    visits: int
    on_time: bool | None  # decided by its due date (None: it was never accepted)


@dataclass(frozen=True, slots=True)
class RatingFact:
    department: str
    division: str
    stars: int


@dataclass(frozen=True, slots=True)
class ComplaintFact:
    department: str
    division: str
    substantiated: bool


@dataclass(frozen=True, slots=True)
class Facts:
    items: Sequence[ItemFact] = ()
    cases: Sequence[CaseFact] = ()
    ratings: Sequence[RatingFact] = ()
    complaints: Sequence[ComplaintFact] = ()


# -- the results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    """三率一数, the counts behind them, and the composite score of one group in one period."""

    group: str
    name: str
    items: int
    items_deep: int
    depth_rate: float | None  # 网上深化率
    completed: int
    completed_online: int
    online_completion_rate: float | None  # 网上办结率
    ratings: int
    satisfied: int
    satisfaction_rate: float | None  # 服务满意率
    online_visits: int
    visits_per_case: float | None  # 网上申请到现场办理次数
    with_deadline: int
    on_time: int
    on_time_rate: float | None  # 按时办结率
    mean_stars: float | None
    substantiated_complaints: int
    capability: float | None  # 服务能力, 0-100
    efficiency: float | None  # 网办效率, 0-100
    satisfaction: float | None  # 满意程度, 0-100
    composite: float | None  # 综合计分, 0-100
    weights: ScoringWeights = field(default=DEFAULT_WEIGHTS)


def ratio(part: int | float, whole: int | float) -> float | None:
    return None if whole == 0 else part / whole


def item_capability(item: ItemFact) -> float:
    """One item's service capability, 0-1: the mean of its depth ((depth − 1) / 2), its visits
    (1 − min(max visits, 3) / 3) and its promise (1 − promised days / statutory days)."""
    depth = (item.depth - 1) / 2
    visits = 1 - min(item.max_visits, VISITS_CAP) / VISITS_CAP
    promise = 1 - item.promised_days / item.statutory_days
    return (depth + visits + promise) / 3


def compute(
    facts: Facts,
    *,
    group: str,
    name: str,
    weights: ScoringWeights = DEFAULT_WEIGHTS,
) -> Metrics:
    """The metrics of one group from its facts (docs/metrics.md gives each formula)."""
    items = len(facts.items)
    deep = sum(1 for i in facts.items if i.depth >= 2)
    completed = len(facts.cases)
    online_cases = [c for c in facts.cases if c.online]
    online = len(online_cases)
    visits = sum(c.visits for c in online_cases)
    timed = [c for c in facts.cases if c.on_time is not None]
    on_time = sum(1 for c in timed if c.on_time)
    ratings = len(facts.ratings)
    satisfied = sum(1 for r in facts.ratings if r.stars >= 4)
    mean_stars = ratio(sum(r.stars for r in facts.ratings), ratings)
    bad = sum(1 for c in facts.complaints if c.substantiated)

    online_rate = ratio(online, completed)
    on_time_rate = ratio(on_time, len(timed))
    capability = None if not items else 100 * sum(item_capability(i) for i in facts.items) / items
    parts = [r for r in (online_rate, on_time_rate) if r is not None]
    efficiency = 100 * sum(parts) / len(parts) if parts else None
    satisfaction = None
    if mean_stars is not None:
        complaint_rate = min(1.0, bad / completed) if completed else (1.0 if bad else 0.0)
        satisfaction = 100 * (mean_stars - 1) / 4 * (1 - complaint_rate)
    scored = [
        (w, s)
        for w, s in (
            (weights.capability, capability),
            (weights.efficiency, efficiency),
            (weights.satisfaction, satisfaction),
        )
        if s is not None
    ]
    total_weight = sum(w for w, _ in scored)
    composite = (
        sum(w * s for w, s in scored) / total_weight if scored and total_weight > 0 else None
    )
    return Metrics(
        group=group,
        name=name,
        items=items,
        items_deep=deep,
        depth_rate=ratio(deep, items),
        completed=completed,
        completed_online=online,
        online_completion_rate=online_rate,
        ratings=ratings,
        satisfied=satisfied,
        satisfaction_rate=ratio(satisfied, ratings),
        online_visits=visits,
        visits_per_case=ratio(visits, online),
        with_deadline=len(timed),
        on_time=on_time,
        on_time_rate=on_time_rate,
        mean_stars=mean_stars,
        substantiated_complaints=bad,
        capability=capability,
        efficiency=efficiency,
        satisfaction=satisfaction,
        composite=composite,
        weights=weights,
    )


def group_key(group_by: GroupBy) -> Callable[[str, str], str]:
    """(department, division) → the key of its group."""
    if group_by is GroupBy.DEPARTMENT:
        return lambda dept, _div: dept
    if group_by is GroupBy.DIVISION:
        return lambda _dept, div: div
    if group_by is GroupBy.CITY:
        return lambda _dept, div: city_of(div)
    return lambda _dept, _div: "all"


def compute_groups(
    facts: Facts,
    *,
    group_by: GroupBy,
    names: Mapping[str, str],
    weights: ScoringWeights = DEFAULT_WEIGHTS,
    only: Iterable[str] | None = None,
) -> list[Metrics]:
    """The metrics of every group that has an item, a case, a rating or a complaint."""
    key = group_key(group_by)
    buckets: dict[str, _Bucket] = {}
    for i in facts.items:
        buckets.setdefault(key(i.department, i.division), _Bucket()).items.append(i)
    for c in facts.cases:
        buckets.setdefault(key(c.department, c.division), _Bucket()).cases.append(c)
    for r in facts.ratings:
        buckets.setdefault(key(r.department, r.division), _Bucket()).ratings.append(r)
    for p in facts.complaints:
        buckets.setdefault(key(p.department, p.division), _Bucket()).complaints.append(p)
    wanted = set(only) if only is not None else None
    return [
        compute(
            Facts(b.items, b.cases, b.ratings, b.complaints),
            group=k,
            name=names.get(k, k),
            weights=weights,
        )
        for k, b in sorted(buckets.items())
        if wanted is None or k in wanted
    ]


@dataclass(slots=True)
class _Bucket:
    items: list[ItemFact] = field(default_factory=list)
    cases: list[CaseFact] = field(default_factory=list)
    ratings: list[RatingFact] = field(default_factory=list)
    complaints: list[ComplaintFact] = field(default_factory=list)


CSV_COLUMNS = (
    "period",
    "group",
    "name",
    "items",
    "items_deep",
    "depth_rate",
    "completed",
    "completed_online",
    "online_completion_rate",
    "ratings",
    "satisfied",
    "satisfaction_rate",
    "online_visits",
    "visits_per_case",
    "with_deadline",
    "on_time",
    "on_time_rate",
    "mean_stars",
    "substantiated_complaints",
    "capability",
    "efficiency",
    "satisfaction",
    "composite",
    "weight_capability",
    "weight_efficiency",
    "weight_satisfaction",
)


def rounded(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def as_row(m: Metrics, period: Period) -> dict[str, object]:
    """One group's metrics as a flat row (the JSON API's and the CSV's shape): rates to 4
    decimal places, scores and averages to 2."""
    return {
        "period": period.label,
        "group": m.group,
        "name": m.name,
        "items": m.items,
        "items_deep": m.items_deep,
        "depth_rate": rounded(m.depth_rate, 4),
        "completed": m.completed,
        "completed_online": m.completed_online,
        "online_completion_rate": rounded(m.online_completion_rate, 4),
        "ratings": m.ratings,
        "satisfied": m.satisfied,
        "satisfaction_rate": rounded(m.satisfaction_rate, 4),
        "online_visits": m.online_visits,
        "visits_per_case": rounded(m.visits_per_case, 2),
        "with_deadline": m.with_deadline,
        "on_time": m.on_time,
        "on_time_rate": rounded(m.on_time_rate, 4),
        "mean_stars": rounded(m.mean_stars, 2),
        "substantiated_complaints": m.substantiated_complaints,
        "capability": rounded(m.capability, 2),
        "efficiency": rounded(m.efficiency, 2),
        "satisfaction": rounded(m.satisfaction, 2),
        "composite": rounded(m.composite, 2),
        "weight_capability": m.weights.capability,
        "weight_efficiency": m.weights.efficiency,
        "weight_satisfaction": m.weights.satisfaction,
    }
