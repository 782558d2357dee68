"""Authorised use (授权用证): a holder lets a hall, or the hall's case (办件), use one licence.

A grant names one licence version (its identifier), the holder who made it, who may use it (a
hall client, or a case number), a purpose and a period. It is withdrawn, never deleted, so the
usage records of the past can always be matched with the grant that was in force.

Invariants: a :class:`Grant` is built only from checked parts (:func:`check_purpose`,
:func:`check_period`); a grant is in force only inside its period and
before its withdrawal; it covers exactly one licence version (an amendment or renewal makes a new
identifier, which needs a new grant).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from elicence.domain.licence import HolderRef
from elicence.errors import InputError

MAX_GRANT_PERIOD = dt.timedelta(days=366)
MAX_PURPOSE = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class GranteeKind(StrEnum):
    """Who a grant lets use a licence."""

    HALL = "hall"  # a hall API client (its id): it verifies and reads the licence in full
    CASE = "case"  # a case number (办件编号) of the hall's case system: may_cite consults it
    HOLDER = "holder"  # another holder (``111:id``): it may cite the licence in its own cases


class GrantState(StrEnum):
    PENDING = "pending"  # its period has not begun
    IN_FORCE = "in_force"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Grantee:
    kind: GranteeKind
    ref: str  # a hall client's id, or a case number

    def __str__(self) -> str:
        return f"{self.kind}:{self.ref}"


@dataclass(frozen=True, slots=True)
class Grant:
    """A holder's permission for one grantee to use one licence version for a purpose."""

    id: str
    identifier: str
    holder: HolderRef
    grantee: Grantee
    purpose: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    created_at: dt.datetime
    created_by: str  # the principal that made it (a holder session or a holder client)
    withdrawn_at: dt.datetime | None = None
    withdrawn_by: str | None = None

    def state(self, at: dt.datetime) -> GrantState:
        if self.withdrawn_at is not None and self.withdrawn_at <= at:
            return GrantState.WITHDRAWN
        if at < self.valid_from:
            return GrantState.PENDING
        if at >= self.valid_until:
            return GrantState.EXPIRED
        return GrantState.IN_FORCE

    def in_force(self, at: dt.datetime) -> bool:
        return self.state(at) is GrantState.IN_FORCE


def new_grant_id() -> str:
    return "g_" + secrets.token_hex(8)


def check_purpose(value: object, *, field: str = "purpose") -> str:
    """The purpose in the holder's words: 1-200 characters, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise InputError("is required: say what the licence will be used for", field=field)
    text = unicodedata.normalize("NFC", value.strip())
    if _CONTROL.search(text):
        raise InputError("must not contain control characters", field=field)
    if len(text) > MAX_PURPOSE:
        raise InputError(f"is {len(text)} characters, at most {MAX_PURPOSE} allowed", field=field)
    return text


def parse_grantee_kind(value: object, *, field: str = "grantee.kind") -> GranteeKind:
    try:
        return GranteeKind(str(value))
    except ValueError:
        raise InputError("must be 'hall', 'case' or 'holder'", field=field) from None


def check_period(
    valid_from: dt.datetime, valid_until: dt.datetime, *, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """A grant's period: it ends after it begins and after now, and lasts at most a year."""
    if valid_from.tzinfo is None or valid_until.tzinfo is None:
        raise InputError("must carry a time zone", field="valid_until")
    if valid_until <= valid_from:
        raise InputError("must be after valid_from", field="valid_until")
    if valid_until <= now:
        raise InputError("must be in the future", field="valid_until")
    if valid_until - valid_from > MAX_GRANT_PERIOD:
        raise InputError("a grant lasts at most 366 days", field="valid_until")
    if valid_from < now - dt.timedelta(minutes=5):
        raise InputError("must not be in the past", field="valid_from")
    return valid_from, valid_until


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """One use of a holder's licence (用证记录) as the holder sees it: who, which, when, how."""

    at: dt.datetime
    identifier: str
    channel: str  # seal | identifier | pdf | presentation | grant
    verdict: str
    client_id: str | None  # None: an anonymous check (a phone scanning the QR code)
    client_name: str | None
    client_role: str | None
    grant_id: str | None = None  # the grant in force for this client then (full data shown)
