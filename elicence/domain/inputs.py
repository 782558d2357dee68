"""Domain: the one rule for a value where it enters the service (issue 16).

Every text value a caller sends — JSON bodies, form fields, query and path parameters,
multipart field values and file names, the CLI's input files — passes :func:`check_text` before
any use case sees it, and every decoded JSON value passes :func:`check_json`. The domain's own
parsers (check characters, catalogue rules, dates) stay as they are and come after; this rule
only guarantees that whatever they accept can be stored, read back and encoded again.

The text rule, in order (the first broken part is the error; the message names the rule and
the code point, never echoes the value):

- **valid Unicode**: no lone surrogate (U+D800–U+DFFF: JSON's ``"\\ud800"`` decodes to one) and
  no noncharacter (U+FDD0–U+FDEF, U+xxFFFE, U+xxFFFF);
- **no control character** (Unicode category Cc: U+0000–U+001F, U+007F–U+009F), except that
  the free-text fields in :data:`MULTILINE_FIELDS` (notes, comments, reasons, complaints and
  their answers, the desk's pasted code) may keep the three whitespace controls tab, line feed
  and carriage return (a browser's text area sends CR LF);
- **NFC**: text is *normalised* to Unicode normal form C, not refused (the domain's parsers did
  so already; a client on a system that writes NFD is not turned away): what is stored, sealed
  and digested is the NFC form;
- **a length limit**: at most :data:`MAX_TEXT` characters for a value and :data:`MAX_KEY` for an
  object's key; the schemas and the domain set tighter limits per field.

:func:`check_json` also bounds what a decoded JSON value may hold: integers within
±:data:`MAX_JSON_INT` (2^53, what every JSON reader carries exactly), finite numbers, nesting at
most :data:`MAX_DEPTH` levels.

Dates: :func:`check_day` (and :func:`add_days` for arithmetic) keep a date a caller sends, and
a date the service computes from one (a validity rule's end, a renewal's start), within
:data:`FIRST_DAY` … :data:`LAST_DAY`: far from the calendar's ends (year 1 and 9999, where
arithmetic and time-zone conversion overflow) and inside what both databases hold.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from elicence.errors import InputError

MAX_TEXT = 16_384  # characters of one text value (a seal is at most 8,000)
MAX_KEY = 128  # characters of one JSON object key or form field name
MAX_DEPTH = 32  # nesting of a JSON value (the deepest request is 4 levels)
MAX_JSON_INT = 2**53
# The largest row id or sequence number a caller may name: the registry's INTEGER columns
# (32-bit on PostgreSQL; a larger value fails in the database, not in validation).
MAX_ROW_ID = 2**31 - 1
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)

# Free-text fields (by the last part of their name) that may keep tab, LF and CR.
MULTILINE_FIELDS = frozenset({"note", "comment", "text", "answer", "reason", "code"})

_SURROGATE = re.compile("[\ud800-\udfff]")
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef\ufffe\uffff\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff"
    "\U0004fffe\U0004ffff\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff"
    "\U0008fffe\U0008ffff\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff"
    "\U000cfffe\U000cffff\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe\U000fffff"
    "\U0010fffe\U0010ffff]"
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def is_multiline(field: str | None) -> bool:
    """Whether ``field`` (a dotted name, ``form.note`` or ``note``) is free text."""
    if not field:
        return False
    last = field.rsplit(".", 1)[-1].split("[", 1)[0]
    return last in MULTILINE_FIELDS


def check_text(
    value: str,
    *,
    field: str | None,
    multiline: bool | None = None,
    max_length: int = MAX_TEXT,
) -> str:
    """``value`` in NFC, or :class:`InputError` naming ``field`` and the rule it breaks.

    ``multiline`` defaults to whether ``field`` is one of :data:`MULTILINE_FIELDS`.
    """
    if len(value) > max_length:  # before any other work on a huge value
        raise InputError(
            f"is {len(value):,} characters, at most {max_length:,} allowed", field=field
        )
    if (m := _SURROGATE.search(value)) is not None:
        raise InputError(
            f"is not valid Unicode text: a lone surrogate (U+{ord(m.group()):04X})", field=field
        )
    if (m := _NONCHARACTER.search(value)) is not None:
        raise InputError(
            f"is not valid Unicode text: a noncharacter (U+{ord(m.group()):04X})", field=field
        )
    free = is_multiline(field) if multiline is None else multiline
    if (m := (_CONTROL_MULTILINE if free else _CONTROL).search(value)) is not None:
        allowed = " (only tab, line feed and carriage return are allowed here)" if free else ""
        raise InputError(
            f"must not contain a control character (U+{ord(m.group()):04X}){allowed}", field=field
        )
    out = value if value.isascii() else unicodedata.normalize("NFC", value)
    if len(out) > max_length:
        raise InputError(f"is {len(out):,} characters, at most {max_length:,} allowed", field=field)
    return out


_FORM_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def form_text(value: object, *, field: str, max_length: int, required: bool = True) -> str:
    """A value typed into a form or a request's field, as text: a string (or an integer, read
    as its digits), trimmed, in NFC, with no control character, at most ``max_length``
    characters; "" when optional and empty. An :class:`InputError` naming ``field`` otherwise.
    (The issuer's requests and the hall's applications both check their fields by it.)"""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError("is required", field=field)
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError("must be a string", field=field)
    out = unicodedata.normalize("NFC", str(value).strip())
    if _FORM_CONTROL.search(out):
        raise InputError("must not contain control characters", field=field)
    if len(out) > max_length:
        raise InputError(f"is {len(out)} characters, at most {max_length} allowed", field=field)
    return out


def check_json(value: Any, *, field: str | None = None) -> Any:
    """A decoded JSON value with every string (keys too) through :func:`check_text`, numbers
    and nesting bounded; :class:`InputError` naming the first wrong place (``a.b[2].c``)."""
    return _walk(value, field, 0)


def _walk(value: Any, field: str | None, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise InputError(f"is nested deeper than {MAX_DEPTH} levels", field=field)
    if isinstance(value, str):
        return check_text(value, field=field)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not -MAX_JSON_INT <= value <= MAX_JSON_INT:
            raise InputError("is an integer out of range (at most ±2^53)", field=field)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError("is not a finite number", field=field)
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = check_text(str(key), field=_join(field, _shown(str(key))), max_length=MAX_KEY)
            out[name] = _walk(item, _join(field, name), depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_walk(item, f"{field or ''}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise InputError("is not a JSON value", field=field)


def _shown(key: str) -> str:
    """A key as an error may name it: what no encoding holds (surrogates) or no one can see
    (controls) as U+FFFD; a key past the length limit as ``(a key)``."""
    if len(key) > MAX_KEY:
        return "(a key)"
    return "".join(
        "\ufffd" if _SURROGATE.match(c) or _CONTROL.match(c) or _NONCHARACTER.match(c) else c
        for c in key
    )


def _join(field: str | None, name: str) -> str:
    return f"{field}.{name}" if field else name


def check_day(day: dt.date, *, field: str | None) -> dt.date:
    """``day`` if it lies within :data:`FIRST_DAY` … :data:`LAST_DAY`."""
    if isinstance(day, dt.datetime):
        day = day.date()
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(f"must be a date between {FIRST_DAY} and {LAST_DAY}", field=field)
    return day


def add_days(day: dt.date, days: int, *, field: str | None) -> dt.date:
    """``day + days`` for a date the service computes, within the bounds of :func:`check_day`
    (never an ``OverflowError``)."""
    try:
        out = day + dt.timedelta(days=days)
    except OverflowError:
        out = dt.date.max if days > 0 else dt.date.min
    return check_day(out, field=field)
