"""The result of a verification, as a value: a verdict and every check that led to it.

Invariant: a verdict is made in one place, :func:`judge`: the gravest failed check decides, and
the good verdict needs every required check to have run and passed (fail closed: a check that
did not run is not a check that passed). Seals and PDFs (:meth:`VerificationReport.from_findings`)
and live presentations (``verifier/presentation.py``) are judged by it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple, Protocol, TypeVar

from elicence.domain.licence import Verdict as Verdict  # noqa: PLC0414 (re-exported)
from elicence.formats.seal import SealedLicence

# The order in which failures outweigh each other (the first is the gravest). ``not_yet_valid``
# comes last, after ``indeterminate``: it is the one failure that vouches for the licence
# ("genuine, in force from …"), so it is the verdict only when every other check passed.
GRAVITY = (
    Verdict.INVALID,
    Verdict.UNTRUSTED,
    Verdict.UNSUPPORTED_ALGORITHM,
    Verdict.NOT_FOUND,
    Verdict.REVOKED,
    Verdict.SUPERSEDED,
    Verdict.SUSPENDED,
    Verdict.EXPIRED,
    Verdict.INDETERMINATE,
    Verdict.NOT_YET_VALID,
)


V = TypeVar("V")
V_co = TypeVar("V_co", covariant=True)


class Judged(Protocol[V_co]):
    """What :func:`judge` reads of a check."""

    @property
    def name(self) -> object: ...
    @property
    def passed(self) -> bool: ...
    @property
    def verdict_if_failed(self) -> V_co: ...


def judge(
    checks: Iterable[Judged[V]],
    *,
    required: Collection[object],
    gravity: Sequence[V],
    good: V,
    incomplete: V,
    vouching: Collection[V] = (),
) -> V:
    """The one verdict combiner: the gravest failure in ``gravity`` order; else ``good`` if every
    ``required`` check ran and passed; else ``incomplete``.

    Gravity, not order: a stale trust list must not hide a bad signature behind
    ``indeterminate``. A ``vouching`` failure (``not_yet_valid``: "genuine, in force from …")
    says something good of every other check, so it is the verdict only when every required
    check ran (else ``incomplete``); rank it after every other failure.
    """
    if not isinstance(checks, list | tuple):  # read twice below
        checks = list(checks)
    complete = {c.name for c in checks}.issuperset(required)  # each ran, passed or failed
    ranks = [gravity.index(c.verdict_if_failed) for c in checks if not c.passed]
    if ranks:
        worst = gravity[min(ranks)]
        if not complete and worst in vouching:
            return incomplete
        return worst
    return good if complete else incomplete


class CheckName(StrEnum):
    """Every check a verification can make (the ``name`` of a check in the HTTP answer)."""

    # a seal (verifier/seal.py, steps 1-11)
    DECODE = "decode"
    TRUST_LIST_CURRENT = "trust_list_current"
    SIGNER_KNOWN = "signer_known"
    SIGNER_CHAIN = "signer_chain"
    SIGNER_VALID_AT_ISSUANCE = "signer_valid_at_issuance"
    SIGNATURE = "signature"
    ISSUER_CONSISTENT = "issuer_consistent"
    ISSUER_AUTHORISED = "issuer_authorised"
    REGISTRY_RECORD = "registry_record"
    REGISTRY_STATUS = "registry_status"
    STATUS_LISTS = "status_lists"
    STATUS_LIST_BITS = "status_list_bits"
    VALIDITY_DATES = "validity_dates"
    # a signed PDF (verifier/pdf.py, steps 1-9)
    PDF_SIGNATURE = "pdf_signature"
    PDF_INTEGRITY = "pdf_integrity"
    PDF_COVERAGE = "pdf_coverage"
    PDF_SIGNER_CHAIN = "pdf_signer_chain"
    PDF_SIGNER_KNOWN = "pdf_signer_known"
    PDF_SEAL = "pdf_seal"
    PDF_SIGNER_IS_ISSUER = "pdf_signer_is_issuer"


class Check(NamedTuple):
    """One check of a verification; ``verdict_if_failed`` is what its failure means.

    A NamedTuple rather than a frozen dataclass: a verification makes a dozen of these, and a
    frozen dataclass's ``__init__`` (``object.__setattr__`` per field) cost more than the rest
    of the report. It is as immutable.
    """

    name: CheckName
    passed: bool
    detail: str
    verdict_if_failed: Verdict = Verdict.INVALID


@dataclass(slots=True)
class Findings:
    """What a verification found so far: its checks, the checks it requires, what it learnt.

    Verifications that build on another (a PDF on its seal) :meth:`absorb` its findings, so
    that one combiner judges them all.
    """

    required: frozenset[CheckName]
    checks: list[Check] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)
    status_checked: bool = False

    def absorb(self, other: Findings) -> None:
        self.checks.extend(other.checks)
        self.required |= other.required
        self.details.update(other.details)
        self.status_checked = other.status_checked


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
    # offline with status lists: the earliest ``valid until`` of the lists the verdict read
    status_valid_until: dt.datetime | None = None

    @property
    def valid(self) -> bool:
        return self.verdict is Verdict.VALID

    @classmethod
    def not_found(cls, *, checked_at: dt.datetime) -> VerificationReport:
        """The report on an identifier the registry does not hold (nothing to verify)."""
        return cls(
            verdict=Verdict.NOT_FOUND,
            checks=(
                Check(
                    CheckName.REGISTRY_RECORD,
                    False,
                    "the registry holds no such licence",
                    Verdict.NOT_FOUND,
                ),
            ),
            checked_at=checked_at,
            status_checked=True,
        )

    @classmethod
    def from_findings(cls, found: Findings, *, checked_at: dt.datetime) -> VerificationReport:
        """The report of ``found``: ``valid`` only if every required check passed (judge)."""
        checks = found.checks
        verdict = judge(
            checks,
            required=found.required,
            gravity=GRAVITY,
            good=Verdict.VALID,
            incomplete=Verdict.INDETERMINATE,
            vouching=(Verdict.NOT_YET_VALID,),
        )
        return cls(
            verdict=verdict,
            checks=tuple(checks),
            checked_at=checked_at,
            status_checked=found.status_checked,
            **found.details,  # type: ignore[arg-type]
        )
