"""The working-day calendar that case deadlines are counted in (承诺办结时限, 工作日).

A working day is Monday to Friday, except the holidays of the calendar file, plus the weekend
days it names as working days (调休上班). Years the file does not cover count Monday to Friday.
The file's format (``elicence-holidays/1``) is in ``docs/hall.md``; the demo is
``elicence/data/holidays_cn.yaml``.

Invariants: ``working_days_between(d, add_working_days(d, n)) == n`` for every ``n >= 1``; a
deadline of 0 working days (即办件) falls on the first working day from ``start`` on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from elicence.errors import CatalogueError, InputError
from elicence.formats.yamlfile import parse_yaml, read_file

DEMO_HOLIDAYS = Path(__file__).parent.parent / "data" / "holidays_cn.yaml"
MAX_SPAN = 3660  # a deadline search never walks more than ten years


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Holidays and adjusted working days (调休) of the years ``years``."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    years: frozenset[int] = field(default_factory=frozenset)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The ``days``-th working day after ``start`` (0: the first working day from
        ``start`` on, ``start`` itself if it is one)."""
        if days < 0:
            raise InputError("must be 0 or more working days", field="days")
        day = start
        if days == 0:
            for _ in range(MAX_SPAN):
                if self.is_working_day(day):
                    return day
                day += dt.timedelta(days=1)
            raise InputError("no working day within ten years", field="days")
        left = days
        for _ in range(MAX_SPAN + days):
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
                if left == 0:
                    return day
        raise InputError("no such working day within ten years", field="days")

    def working_days_between(self, after: dt.date, until: dt.date) -> int:
        """Working days ``d`` with ``after < d <= until`` (0 when ``until <= after``)."""
        count, day = 0, after
        while day < until:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count


class _Span(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: dt.date = Field(alias="from")
    to: dt.date
    name: Annotated[str, Field(max_length=40)] = ""


class _Day(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: dt.date
    name: Annotated[str, Field(max_length=40)] = ""


class _CalendarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["elicence-holidays/1"]
    years: list[Annotated[int, Field(ge=2000, le=2100)]]
    holidays: list[_Span] = []
    workdays: list[_Day] = []


def parse_calendar(text: str, *, source: str = "<holidays>") -> WorkingCalendar:
    """Parse and check a holiday calendar file; an error names its line and field, as the
    catalogue files' do (``formats/yamlfile``)."""
    return parse_yaml(text, _CalendarIn, _build, source=source, root_field="holidays")


def _build(parsed: _CalendarIn) -> WorkingCalendar:
    holidays: set[dt.date] = set()
    for i, span in enumerate(parsed.holidays):
        if span.to < span.from_ or (span.to - span.from_).days > 31:
            raise CatalogueError(
                "a holiday runs forwards and at most a month", field=f"holidays[{i}].to"
            )
        holidays.update(_days(span.from_, span.to))
    workdays = {d.day for d in parsed.workdays}
    years = frozenset(parsed.years)
    for day in holidays | workdays:
        if day.year not in years:
            raise CatalogueError(
                f"{day} is outside the years the file covers ({sorted(years)})", field="years"
            )
    clash = sorted(holidays & workdays)
    if clash:
        raise CatalogueError(f"{clash[0]} is both a holiday and a workday", field="workdays")
    return WorkingCalendar(frozenset(holidays), frozenset(workdays), years)


def load_calendar(path: Path) -> WorkingCalendar:
    """Read (through ``formats/yamlfile``), parse and check a holiday calendar file."""
    return parse_calendar(read_file(path, what="the holiday calendar"), source=str(path))


def _days(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)
