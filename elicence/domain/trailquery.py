"""Domain layer: the one value that says which records of the audit trail to read (a
`TrailQuery`), and the outcomes a record may have. The API, the command line, the application
and the registry all pass this value; only :meth:`TrailQuery.checked` decides what is valid."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from elicence.errors import InputError

MAX_LIMIT = 1000


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # the caller's error: not allowed, not found, illegal, bad input
    FAILED = "failed"  # the service's: registry, keys, documents unavailable


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailQuery:
    """Records with an id after ``after``, at most ``limit``, oldest first, matching every
    filter given: ``action`` ``licence`` matches every ``licence.*`` action; ``since`` is
    inclusive and ``until`` exclusive."""

    after: int = 0
    limit: int = 100
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def checked(self) -> TrailQuery:
        """This query, or :class:`InputError` naming the field that breaks its rule."""
        if self.after < 0:
            raise InputError("must be 0 or a record id", field="after")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InputError(f"must be between 1 and {MAX_LIMIT}", field="limit")
        if self.outcome is not None and self.outcome not in set(Outcome):
            raise InputError(f"must be one of {', '.join(Outcome)}", field="outcome")
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None and value.tzinfo is None:
                raise InputError("give a time zone", field=name)
        return self
