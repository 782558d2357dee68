"""Case numbers (办件编号): 21 characters from 0-9 and A-Z, with a check character.

The scheme (docs/hall.md):

    440106 261128 7K3M9Q2X Y
    |      |      |        └ check: ISO/IEC 7064 MOD 37,36 over the 20 characters before it
    |      |      └ 8 characters 0-9A-Z from the CSPRNG (about 41 bits): numbers are not guessable
    |      └ the day the case was submitted, China time, YYMMDD (20YY)
    └ the GB/T 2260 division code of the handling department

Written without the spaces. Input is read case-insensitively, with spaces and hyphens ignored.
MOD 37,36 is the check of the e-licence identifier (GB/T 36904): it catches every single wrong
character and nearly every swap of two adjacent characters (an ISO 7064 hybrid system misses
about one swap in 1,800; the random part makes a swapped number name no other case in any case).

Invariant: :func:`parse_case_number` returns only numbers :func:`new_case_number` could make,
normalised; anything else is an :class:`~elicence.errors.InputError` naming ``case_number``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from elicence.domain.catalogue import check_division_code
from elicence.domain.codes import ALNUM36, mod37_36_check_char
from elicence.errors import InputError

LENGTH = 21
RANDOM_LENGTH = 8
_SHAPE = re.compile(r"([0-9]{6})([0-9]{6})([0-9A-Z]{8})([0-9A-Z])")
_IGNORED = re.compile(r"[\s\-]")


@dataclass(frozen=True, slots=True)
class CaseNumber:
    """A case number's parts."""

    division: str
    day: dt.date
    random: str

    @property
    def check(self) -> str:
        return mod37_36_check_char(self.body)

    @property
    def body(self) -> str:
        return f"{self.division}{self.day:%y%m%d}{self.random}"

    def __str__(self) -> str:
        return self.body + self.check


def new_case_number(division: str, day: dt.date) -> str:
    """A fresh case number for a case handled in ``division``, submitted on ``day``."""
    check_division_code(division, field="division")
    if not 2000 <= day.year <= 2099:
        raise InputError("case numbers cover the years 2000-2099", field="day")
    random = "".join(secrets.choice(ALNUM36) for _ in range(RANDOM_LENGTH))
    return str(CaseNumber(division, day, random))


def parse_case_number(value: object, *, field: str = "case_number") -> CaseNumber:
    """Parse and check a case number (its check character included)."""
    if not isinstance(value, str):
        raise InputError("must be a case number (21 characters)", field=field)
    text = _IGNORED.sub("", value).upper()
    if len(text) != LENGTH:
        raise InputError(f"must be {LENGTH} characters, got {len(text)}", field=field)
    m = _SHAPE.fullmatch(text)
    if m is None:
        raise InputError(
            "must be a 6-digit division, a 6-digit date YYMMDD, 8 characters 0-9A-Z and a "
            "check character",
            field=field,
        )
    division, day, random, check = m.groups()
    try:
        check_division_code(division, field=field)
        when = dt.date(2000 + int(day[:2]), int(day[2:4]), int(day[4:]))
    except ValueError:
        raise InputError(f"{day} is not a date YYMMDD", field=field) from None
    number = CaseNumber(division, when, random)
    if number.check != check:
        raise InputError(
            f"wrong check character {check!r}, ISO 7064 MOD 37,36 gives {number.check!r}",
            field=field,
        )
    return number


def case_number(value: object, *, field: str = "case_number") -> str:
    """The normalised text of a checked case number."""
    return str(parse_case_number(value, field=field))
