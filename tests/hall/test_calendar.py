"""Working days for case deadlines: weekends, holidays, adjusted working days (调休)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elicence.errors import CatalogueError
from elicence.hall.calendar import DEMO_HOLIDAYS, WorkingCalendar, load_calendar, parse_calendar

CAL = load_calendar(DEMO_HOLIDAYS)
D = dt.date


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 11, 27), True),  # a Friday
        (D(2026, 11, 28), False),  # a Saturday
        (D(2026, 10, 1), False),  # 国庆节
        (D(2026, 10, 10), True),  # a Saturday worked for 国庆节 (调休)
        (D(2026, 2, 14), True),  # a Saturday worked for 春节
        (D(2026, 2, 16), False),  # 春节 on a Monday
        (D(2027, 1, 1), True),  # 2027 is not in the file: Monday to Friday
    ],
    ids=[
        "friday",
        "saturday",
        "national-day",
        "adjusted-saturday",
        "spring-saturday",
        "spring-monday",
        "uncovered-year",
    ],
)
def test_working_days(day: dt.date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_a_deadline_skips_weekends_and_holidays() -> None:
    # accepted on Thursday 2026-09-24; Friday 25 is 中秋节: the 3rd working day is Wed 30
    assert CAL.add_working_days(D(2026, 9, 24), 3) == D(2026, 9, 30)
    # across 国庆节 (Oct 1-7) and its adjusted Saturday (Oct 10)
    assert CAL.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert CAL.add_working_days(D(2026, 10, 9), 1) == D(2026, 10, 10)
    # 即办件 (0 days) on a holiday falls on the next working day
    assert CAL.add_working_days(D(2026, 10, 3), 0) == D(2026, 10, 8)
    assert CAL.add_working_days(D(2026, 11, 27), 0) == D(2026, 11, 27)


def test_paused_days_are_counted_in_working_days() -> None:
    assert CAL.working_days_between(D(2026, 11, 27), D(2026, 11, 30)) == 1  # Fri → Mon
    assert CAL.working_days_between(D(2026, 9, 30), D(2026, 10, 8)) == 1
    assert CAL.working_days_between(D(2026, 11, 30), D(2026, 11, 27)) == 0


@given(st.dates(min_value=D(2025, 12, 1), max_value=D(2027, 12, 31)), st.integers(1, 60))
def test_adding_then_counting_gives_back_the_days(start: dt.date, days: int) -> None:
    due = CAL.add_working_days(start, days)
    assert CAL.working_days_between(start, due) == days
    assert CAL.is_working_day(due)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("format: elicence-holidays/2\nyears: [2026]\n", "format"),
        (
            "format: elicence-holidays/1\nyears: [2026]\nholidays: [{from: 2026-10-07, to: 2026-10-01}]\n",
            "holidays[0].to",
        ),
        (
            "format: elicence-holidays/1\nyears: [2026]\nholidays: [{from: 2027-10-01, to: 2027-10-03}]\n",
            "years",
        ),
        (
            "format: elicence-holidays/1\nyears: [2026]\nholidays: [{from: 2026-10-01, to: 2026-10-03}]\nworkdays: [{day: 2026-10-02}]\n",
            "workdays",
        ),
        (
            "format: elicence-holidays/1\nyears: [2026]\nholidays: [{from: 2026-13-01, to: 2026-13-02}]\n",
            "holidays[0].from",
        ),
    ],
    ids=["format", "backwards", "outside-years", "both", "not-a-date"],
)
def test_a_bad_calendar_file_is_refused(text: str, field: str) -> None:
    with pytest.raises(CatalogueError) as e:
        parse_calendar(text)
    assert e.value.field == field


def test_a_calendar_files_error_names_its_line() -> None:
    text = "format: elicence-holidays/1\nyears: [2026]\nholidays:\n  - {from: 2026-10-07, to: 2026-10-01}\n"
    with pytest.raises(CatalogueError) as e:
        parse_calendar(text, source="holidays.yaml")
    assert e.value.field == "holidays[0].to"
    assert e.value.message.startswith("line 4 of holidays.yaml: a holiday runs forwards")


def test_an_empty_calendar_is_monday_to_friday() -> None:
    cal = WorkingCalendar()
    assert cal.add_working_days(D(2026, 10, 1), 2) == D(2026, 10, 5)
