"""Templates: what the 三率一数 dashboard (``/dashboard``) shows, from the hall's metrics: the
period and grouping choices, a bar chart per measure over the groups, the trend of one group, and
the same numbers as tables.

Pure: it is given the metrics (``elicence.hall.metrics``) and the day, and returns the page's
context; the router fetches, this module formats, the template lays out.

Invariants: a number is formatted from the value the JSON API gives (rates to 4 decimal places,
shown as a percentage with 2; averages and scores to 2), so the page and ``/api/v1/metrics``
agree to the digit; a measure with nothing to count shows ``—``, never 0; the charts are drawn
by :mod:`elicence.templates.charts`, which escapes every name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from markupsafe import Markup

from elicence.hall.metrics import GroupBy, Metrics, Period, PeriodKind, period_kind, rounded
from elicence.templates.charts import MISSING, Datum, bar_chart, column_chart, nice_maximum

MONTHS_OFFERED = 24
QUARTERS_OFFERED = 8
YEARS_OFFERED = 5
TREND_LENGTH = {
    PeriodKind.MONTH: 12,
    PeriodKind.QUARTER: 8,
    PeriodKind.YEAR: 5,
    PeriodKind.DAYS: 6,
}

GROUP_BYS = {
    GroupBy.DEPARTMENT: ("部门", "Department"),
    GroupBy.CITY: ("地市", "City"),
    GroupBy.DIVISION: ("行政区划", "Division"),
    GroupBy.ALL: ("全部", "All"),
}


class Kind(StrEnum):
    RATE = "rate"  # 0–1, shown as a percentage
    VISITS = "visits"  # an average count, open-ended
    SCORE = "score"  # 0–100


@dataclass(frozen=True, slots=True)
class Measure:
    key: str  # the attribute of Metrics (and the JSON API's column)
    ident: str  # the chart's element id
    zh: str
    en: str
    kind: Kind
    formula_zh: str
    formula_en: str
    lower_is_better: bool = False
    part: Callable[[Metrics], tuple[int, int]] | None = None  # the counts behind it


MEASURES = (
    Measure(
        "depth_rate",
        "chart-depth",
        "网上深化率",
        "Online depth rate",
        Kind.RATE,
        "办事深度二级及以上的事项数 ÷ 事项总数",
        "items at depth level 2 or more ÷ items",
        part=lambda m: (m.items_deep, m.items),
    ),
    Measure(
        "online_completion_rate",
        "chart-online",
        "网上办结率",
        "Online completion rate",
        Kind.RATE,
        "网上申请的办结件数 ÷ 办结件数",
        "cases applied for online and completed ÷ cases completed",
        part=lambda m: (m.completed_online, m.completed),
    ),
    Measure(
        "satisfaction_rate",
        "chart-satisfaction",
        "服务满意率",
        "Satisfaction rate",
        Kind.RATE,
        "四星及五星评价数 ÷ 评价数",
        "ratings of 4 or 5 stars ÷ ratings",
        part=lambda m: (m.satisfied, m.ratings),
    ),
    Measure(
        "visits_per_case",
        "chart-visits",
        "网上申请到现场办理次数",
        "On-site visits per online case",
        Kind.VISITS,
        "网上申请的办结件到现场次数 ÷ 网上申请的办结件数（越少越好）",
        "on-site visits of online cases ÷ online cases completed (fewer is better)",
        lower_is_better=True,
        part=lambda m: (m.online_visits, m.completed_online),
    ),
    Measure(
        "composite",
        "chart-composite",
        "综合计分",
        "Composite score",
        Kind.SCORE,
        "服务能力、网办效率、满意程度三项（各 0–100）按本期权重加权",
        "capability, efficiency and satisfaction (each 0–100), weighted for the period",
    ),
)


def formatted(kind: Kind, value: float | None) -> str:
    """A value as the page shows it: a rate as a percentage of its 4-place value, an average or
    a score to 2 places; ``—`` where there is nothing to count."""
    if value is None:
        return MISSING
    if kind is Kind.RATE:
        return f"{(rounded(value, 4) or 0.0) * 100:.2f}%"
    return f"{rounded(value, 2):.2f}"


def _value(m: Metrics, measure: Measure) -> float | None:
    value: float | None = getattr(m, measure.key)
    return value


def cell(m: Metrics, measure: Measure) -> dict[str, str]:
    """A table cell: the value, and the counts it comes from."""
    detail = ""
    if measure.part is not None:
        num, den = measure.part(m)
        detail = f"{num}/{den}"
    return {"value": formatted(measure.kind, _value(m, measure)), "detail": detail}


def _scale(measure: Measure, values: Sequence[float | None]) -> tuple[float, str]:
    if measure.kind is Kind.RATE:
        return 1.0, "100%"
    if measure.kind is Kind.SCORE:
        return 100.0, "100"
    top = nice_maximum(values)
    return top, f"{top:g}"


def _ranked(rows: Sequence[Metrics], measure: Measure) -> list[Metrics]:
    """Best first (the seed's 擂台), groups with nothing to count last, ties by group."""

    def key(m: Metrics) -> tuple[int, float, str]:
        v = _value(m, measure)
        if v is None:
            return (1, 0.0, m.group)
        return (0, v if measure.lower_is_better else -v, m.group)

    return sorted(rows, key=key)


def measure_chart(measure: Measure, rows: Sequence[Metrics], *, selected: str | None) -> Markup:
    values = [_value(m, measure) for m in rows]
    maximum, top = _scale(measure, values)
    data = []
    for m in _ranked(rows, measure):
        shown = formatted(measure.kind, _value(m, measure))
        if measure.part is not None and _value(m, measure) is not None:
            num, den = measure.part(m)
            shown = f"{shown}（{num}/{den}）"
        data.append(Datum(m.name, _value(m, measure), shown, selected=m.group == selected))
    return bar_chart(
        data,
        ident=measure.ident,
        title=f"{measure.zh} {measure.en}",
        maximum=maximum,
        top=top,
    )


def _trend_label(period: Period, kind: PeriodKind, first: bool) -> tuple[str, str]:
    """A column's short label and its note (the year where it changes)."""
    if kind is PeriodKind.MONTH:
        return f"{period.first.month}月", str(period.first.year) if first or (
            period.first.month == 1
        ) else ""
    if kind is PeriodKind.QUARTER:
        q = (period.first.month - 1) // 3 + 1
        return f"Q{q}", str(period.first.year) if first or q == 1 else ""
    if kind is PeriodKind.YEAR:
        return str(period.first.year), ""
    new_year = first or (period.first.month, period.first.day) <= (1, 1)
    return period.first.strftime("%m-%d"), str(period.first.year) if new_year else ""


def trend_chart(trend: Sequence[tuple[Period, Metrics | None]], *, name: str) -> Markup:
    data = []
    for i, (p, m) in enumerate(trend):
        label, note = _trend_label(p, period_kind(p), i == 0)
        value = m.composite if m is not None else None
        data.append(Datum(label, value, formatted(Kind.SCORE, value), title=p.label, note=note))
    return column_chart(
        data,
        ident="chart-trend",
        title=f"{name} 综合计分走势 Composite score over time",
        maximum=100.0,
        top="100",
    )


def period_name(label: str, kind: PeriodKind) -> str:
    """``2026-11`` → ``2026年11月``, ``2026-Q4`` → ``2026年第4季度``, ``2026`` → ``2026年``."""
    if kind is PeriodKind.MONTH:
        return f"{label[:4]}年{int(label[5:7])}月"
    if kind is PeriodKind.QUARTER:
        return f"{label[:4]}年第{label[-1]}季度"
    if kind is PeriodKind.YEAR:
        return f"{label}年"
    return label


def period_choices(today: dt.date, selected: str) -> list[dict[str, Any]]:
    """The periods offered: the last 24 months, 8 quarters and 5 years up to ``today``, and
    ``selected`` where it is none of them (a period typed into the address)."""
    months, quarters, years = [], [], []
    index = today.year * 12 + today.month - 1
    for n in range(MONTHS_OFFERED):
        y, m0 = divmod(index - n, 12)
        months.append(f"{y:04d}-{m0 + 1:02d}")
    q_index = today.year * 4 + (today.month - 1) // 3
    for n in range(QUARTERS_OFFERED):
        y, q0 = divmod(q_index - n, 4)
        quarters.append(f"{y:04d}-Q{q0 + 1}")
    years = [f"{today.year - n:04d}" for n in range(YEARS_OFFERED)]
    groups = [
        ("月 Month", PeriodKind.MONTH, months),
        ("季度 Quarter", PeriodKind.QUARTER, quarters),
        ("年 Year", PeriodKind.YEAR, years),
    ]
    out = [
        {
            "label": title,
            "options": [
                {"value": v, "name": period_name(v, kind), "selected": v == selected}
                for v in values
            ],
        }
        for title, kind, values in groups
    ]
    if not any(selected in values for _, _, values in groups):
        out.append(
            {
                "label": "其他 Other",
                "options": [{"value": selected, "name": selected, "selected": True}],
            }
        )
    return out


def view(
    *,
    period: Period,
    group_by: GroupBy,
    rows: Sequence[Metrics],
    trend: Sequence[tuple[Period, Metrics | None]],
    trend_group: str,
    today: dt.date,
) -> dict[str, Any]:
    """The dashboard's context: choices, charts, tables and the weights of the period."""
    kind = period_kind(period)
    names = {m.group: m.name for m in rows}
    trend_name = names.get(trend_group) or next(
        (m.name for _, m in trend if m is not None), "全部" if trend_group == "all" else trend_group
    )
    selected = trend_group if group_by is not GroupBy.ALL else None
    weights = rows[0].weights if rows else None
    return {
        "period": period,
        "period_name": period_name(period.label, kind),
        "group_by": str(group_by),
        "group_bys": [(str(k), zh, en) for k, (zh, en) in GROUP_BYS.items()],
        "periods": period_choices(today, period.label),
        "measures": [
            {"m": m, "chart": measure_chart(m, rows, selected=selected)} for m in MEASURES
        ],
        "rows": [
            {
                "group": m.group,
                "name": m.name,
                "selected": m.group == selected,
                "cells": [cell(m, x) for x in MEASURES],
            }
            for m in rows
        ],
        "columns": MEASURES,
        "trend_group": trend_group,
        "trend_name": trend_name,
        "trend_chart": trend_chart(trend, name=trend_name),
        "trend_rows": [
            {
                "label": p.label,
                "name": period_name(p.label, period_kind(p)),
                "cells": (
                    [cell(m, x) for x in MEASURES]
                    if m is not None
                    else [{"value": MISSING, "detail": ""} for _ in MEASURES]
                ),
            }
            for p, m in trend
        ],
        "weights": (
            None
            if weights is None
            else {
                "capability": f"{weights.capability:.2f}",
                "efficiency": f"{weights.efficiency:.2f}",
                "satisfaction": f"{weights.satisfaction:.2f}",
            }
        ),
    }
