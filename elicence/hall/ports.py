"""The hall's seams: what its use cases need from the rest of elicence, as Protocols, and
:class:`Seams`, the one bundle every use case is given.

``bootstrap.assemble`` fills them with the adapters of ``app/hall.py`` (the registry's
``HallStore``, the verifier over the registry's status, the issuer, authorised use); the hall's
pure tests fill them with in-memory fakes (``tests/hall/fakes.py``). The hall imports none of the
real ones: it sits below them (docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from elicence.domain.catalogue import Catalogue
from elicence.domain.clients import Client
from elicence.domain.licence import DraftFields, HolderRef, LicenceDraft, Verdict
from elicence.hall.calendar import WorkingCalendar
from elicence.hall.cases import (
    Case,
    CaseEvent,
    CitedLicence,
    Complaint,
    Rating,
    Rectification,
    Upload,
)
from elicence.hall.items import ItemCatalogue


@dataclass(frozen=True, slots=True)
class CitationRequest:
    """A licence to check: its seal text (or QR URL), or its identifier (already checked)."""

    seal: str | None
    identifier: str | None


@dataclass(frozen=True, slots=True)
class CitationCheck:
    """What the verifier said of a cited e-licence, and the registry's record of it."""

    verdict: Verdict
    identifier: str | None
    licence: CitedLicence | None  # the registry's record (holder unmasked), when it has one
    presented: str  # "seal" or "identifier"
    why: str = ""  # the first failed check, for the message


class CitationChecker(Protocol):
    """The verifier over the registry's status, and the usage records (用证记录) it leaves."""

    def check(self, requests: Sequence[CitationRequest]) -> list[CitationCheck]:
        """One check per request, in order (the registry read once for all of them)."""
        ...

    def record(
        self,
        checks: Sequence[CitationCheck],
        *,
        at: dt.datetime,
        client_id: str,
        case_number: str | None,
    ) -> None:
        """A usage record of each check, by ``client_id``, naming the case where there is one;
        durable when it returns."""
        ...


class CitationPolicy(Protocol):
    """May ``applicant`` cite ``licence`` (the registry's unmasked record) for a case?

    Where authorised use (授权用证: a holder lets a hall or a case use one licence) comes in:
    the service's policy (``app/hall.GrantedOrOwn``) also answers yes for a licence its holder
    granted to the case or to the hall that acts."""

    def may_cite(
        self,
        applicant: HolderRef,
        licence: CitedLicence,
        *,
        case: str | None,
        client: Client,
    ) -> bool:
        """``case``: the case number once there is one; ``client``: who submits or acts."""
        ...


class OwnLicencesOnly:
    """The default policy, without authorised use: an applicant cites its own licences only.

    Compared on the registry's record, whose holder id is unmasked (a natural person's seal
    carries it masked)."""

    def may_cite(
        self,
        applicant: HolderRef,
        licence: CitedLicence,
        *,
        case: str | None,
        client: Client,
    ) -> bool:
        return licence.holder == applicant


@dataclass(frozen=True, slots=True)
class IssuedLicence:
    identifier: str
    created: bool


class LicenceIssuing(Protocol):
    """The issuer: it checks and issues a typed draft, idempotently by its ``source_ref``."""

    def check(self, draft: LicenceDraft, *, department: str, names: DraftFields) -> LicenceDraft:
        """The draft as the issuer will issue it — numbered if it had no number, its last day
        set — after every rule passed (errors name each part as ``names`` say); nothing is
        sealed or stored."""
        ...

    def issue(self, draft: LicenceDraft, *, department: str, actor: str) -> IssuedLicence: ...
    def find(self, *, department: str, source_ref: str) -> str | None: ...


class CaseUnitOfWork(Protocol):
    def enrol(self, client: Client, at: dt.datetime) -> None:
        """Give a principal without a client record (a holder signed in on the web) its
        keyless one, in this transaction; nothing for one that has it."""
        ...

    def add_case(
        self, case: Case, uploads: Sequence[tuple[Upload, bytes]], event: CaseEvent
    ) -> None: ...
    def case_for_update(self, number: str) -> Case | None: ...
    def save_case(
        self,
        case: Case,
        events: Sequence[CaseEvent],
        uploads: Sequence[tuple[Upload, bytes]] = (),
        *,
        expected_version: int | None = None,
    ) -> bool:
        """Write the case (and its events); with ``expected_version``, only if the stored
        case still has it (False, nothing written, if not)."""
        ...

    def add_usage(
        self,
        checks: Sequence[CitationCheck],
        *,
        at: dt.datetime,
        client_id: str,
        case_number: str,
    ) -> None:
        """A usage record (用证记录) of each check, naming the case, written in this
        transaction: committed with the case's step (one commit, not one more per record), and
        gone with it if it does not commit (the caller then records them on their own)."""
        ...

    def add_rating(self, rating: Rating, *, client_id: str) -> None: ...
    def add_rectification(self, order: Rectification) -> int: ...
    def rectification_for_update(self, order_id: int) -> Rectification | None: ...
    def save_rectification(self, order: Rectification) -> None: ...
    def add_complaint(self, complaint: Complaint, *, client_id: str) -> int: ...
    def complaint_for_update(self, complaint_id: int) -> Complaint | None: ...
    def save_complaint(self, complaint: Complaint) -> None: ...
    def commit(self) -> None: ...


class CaseStore(Protocol):
    def unit_of_work(self) -> AbstractContextManager[CaseUnitOfWork]: ...
    def case(self, number: str) -> Case | None: ...
    def events(self, number: str) -> list[CaseEvent]: ...
    def upload(self, number: str, material: str) -> tuple[Upload, bytes] | None: ...
    def registered_name(self, holder: HolderRef) -> str | None:
        """The holder's name on its latest licence in force (None: it holds none)."""
        ...

    def stored_upload(self, holder: HolderRef, sha256: str) -> tuple[Upload, bytes] | None:
        """The holder's latest upload of this content, as an applicant of any of its cases
        (None: it handed in no such file; another holder's files are never looked at)."""
        ...


@dataclass(frozen=True, slots=True)
class Seams:
    """Everything the hall's use cases are given; they read no settings."""

    store: CaseStore
    items: Callable[[], tuple[int, ItemCatalogue]]  # the item catalogue in force, its version
    licences: Callable[[], Catalogue]  # the licence catalogue in force
    citations: CitationChecker
    issuer: LicenceIssuing
    calendar: WorkingCalendar
    clock: Callable[[], dt.datetime]
    policy: CitationPolicy = field(default_factory=OwnLicencesOnly)
    # a principal's client record made at once (a holder on the web: the usage records of a
    # refused submission's checks name it); the unit of work's ``enrol`` where a write follows
    enrol: Callable[[Client], None] = field(default=lambda _client: None)
    rectify_days: int = 15  # working days a department has to answer a bad rating
