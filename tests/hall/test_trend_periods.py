"""The periods of a trend: the months before a month, quarters before a quarter, years before a
year, equal ranges of days before a range — consecutive, oldest first, ending with the period."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elicence.errors import InputError
from elicence.hall.metrics import PeriodKind, parse_period, period_kind, preceding


@pytest.mark.parametrize(
    ("label", "count", "labels"),
    [
        ("2026-02", 3, ["2025-12", "2026-01", "2026-02"]),
        ("2026-Q1", 3, ["2025-Q3", "2025-Q4", "2026-Q1"]),
        ("2026", 2, ["2025", "2026"]),
        ("2026-11-01..2026-11-10", 2, ["2026-10-22..2026-10-31", "2026-11-01..2026-11-10"]),
        ("0001-02", 5, ["0001-01", "0001-02"]),
        ("0001", 3, ["0001"]),
        ("0001-01-03..0001-01-04", 3, ["0001-01-01..0001-01-02", "0001-01-03..0001-01-04"]),
    ],
    ids=["months", "quarters", "years", "days", "first-months", "first-year", "first-days"],
)
def test_preceding(label: str, count: int, labels: list[str]) -> None:
    assert [p.label for p in preceding(parse_period(label), count)] == labels


@pytest.mark.parametrize("count", [0, -1, 37], ids=["zero", "negative", "too-many"])
def test_a_bad_count_is_refused(count: int) -> None:
    with pytest.raises(InputError) as e:
        preceding(parse_period("2026-11"), count)
    assert e.value.field == "count"


@given(
    st.one_of(
        st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(1, 9999), st.integers(1, 12)),
        st.builds(lambda y, q: f"{y:04d}-Q{q}", st.integers(1, 9999), st.integers(1, 4)),
        st.builds(lambda y: f"{y:04d}", st.integers(1, 9999)),
        st.builds(
            lambda d, n: f"{d.isoformat()}..{(d + dt.timedelta(days=n)).isoformat()}",
            st.dates(dt.date(1, 1, 1), dt.date(9990, 1, 1)),
            st.integers(0, 1000),
        ),
    ),
    st.integers(1, 36),
)
def test_trend_periods_are_consecutive_and_end_with_the_period(label: str, count: int) -> None:
    period = parse_period(label)
    got = preceding(period, count)
    assert 1 <= len(got) <= count and got[-1] == period
    assert len(got) == count or got[0].first.year == 1  # fewer only where the calendar begins
    for before, after in itertools.pairwise(got):
        assert before.last + dt.timedelta(days=1) == after.first
        assert period_kind(before) is period_kind(period)
        assert parse_period(before.label) == before
    if period_kind(period) is PeriodKind.DAYS:
        assert {p.last - p.first for p in got} == {period.last - period.first}
