"""The result of a verification, as a value: a verdict and every check that led to it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from elicence.seal import SealedLicence


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # tampered, bad signature, inconsistent
    UNTRUSTED = "untrusted"  # signer not in the trust list, or not trusted for this
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    NOT_FOUND = "not_found"
    INDETERMINATE = "indeterminate"  # status data missing or stale


# The order in which failures outweigh each other (the first is the gravest).
GRAVITY = (
    Verdict.INVALID,
    Verdict.UNTRUSTED,
    Verdict.NOT_FOUND,
    Verdict.REVOKED,
    Verdict.SUPERSEDED,
    Verdict.SUSPENDED,
    Verdict.EXPIRED,
    Verdict.INDETERMINATE,
)


class Check(NamedTuple):
    """One check of a verification; ``verdict_if_failed`` is what its failure means.

    A NamedTuple rather than a frozen dataclass: a verification makes a dozen of these, and a
    frozen dataclass's ``__init__`` (``object.__setattr__`` per field) cost more than the rest
    of the report. It is as immutable.
    """

    name: str
    passed: bool
    detail: str
    verdict_if_failed: Verdict = Verdict.INVALID


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """A verdict with its checks, the licence as the seal states it, and when it was checked."""

    verdict: Verdict
    checks: tuple[Check, ...]
    checked_at: dt.datetime
    licence: SealedLicence | None = None
    issuer: str | None = None
    issued_at: dt.datetime | None = None
    status_checked: bool = False
    superseded_by: str | None = None

    @property
    def valid(self) -> bool:
        return self.verdict is Verdict.VALID

    @classmethod
    def from_checks(
        cls,
        checks: list[Check],
        *,
        required: frozenset[str],
        checked_at: dt.datetime,
        **details: object,
    ) -> VerificationReport:
        """The gravest verdict among failed checks; ``valid`` only if every required check passed.

        Gravity, not order: a stale trust list must not hide a bad signature behind
        ``indeterminate``.
        """
        failed = [c.verdict_if_failed for c in checks if not c.passed]
        verdict = min(failed, key=GRAVITY.index) if failed else None
        if verdict is None:
            ran = {c.name for c in checks if c.passed}
            verdict = Verdict.VALID if required <= ran else Verdict.INDETERMINATE
        return cls(verdict=verdict, checks=tuple(checks), checked_at=checked_at, **details)  # type: ignore[arg-type]
