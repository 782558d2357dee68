"""In-memory fakes of the hall's seams (``elicence/hall/ports.py``), so that the hall's use cases
are tested without a database, a verifier or an issuer: a case store whose unit of work applies
its writes only on commit, a citation checker that answers verdicts set by the test and keeps
the usage records, and an issuer that numbers, checks and issues drafts idempotently by
``source_ref``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from elicence.domain.catalogue import Catalogue
from elicence.domain.clients import Client
from elicence.domain.licence import DraftFields, HolderRef, LicenceDraft, Verdict
from elicence.errors import ConflictError, InputError
from elicence.hall.cases import (
    Case,
    CaseEvent,
    CitedLicence,
    Complaint,
    Rating,
    Rectification,
    Upload,
)
from elicence.hall.ports import CitationCheck, CitationRequest, IssuedLicence


@dataclass(frozen=True)
class Usage:
    identifier: str | None
    verdict: Verdict
    client_id: str
    case_number: str | None


@dataclass
class _State:
    cases: dict[str, Case] = field(default_factory=dict)
    events: list[CaseEvent] = field(default_factory=list)
    uploads: list[tuple[str, Upload, bytes]] = field(default_factory=list)
    ratings: dict[str, Rating] = field(default_factory=dict)
    orders: dict[int, Rectification] = field(default_factory=dict)
    complaints: dict[int, Complaint] = field(default_factory=dict)
    enrolled: set[str] = field(default_factory=set)  # the clients given a record by ``enrol``


class MemoryUnitOfWork:
    """Works on a copy of the store's state; :meth:`commit` makes the copy the state."""

    def __init__(self, store: MemoryCaseStore) -> None:
        self._store = store
        self._state = copy.deepcopy(store.state)
        self._usage: list[Usage] = []  # recorded with the commit

    def enrol(self, client: Client, at: dt.datetime) -> None:
        self._state.enrolled.add(client.id)

    def add_case(
        self, case: Case, uploads: Sequence[tuple[Upload, bytes]], event: CaseEvent
    ) -> None:
        if case.number in self._state.cases:
            raise ConflictError(f"case number {case.number} is taken", code="duplicate_case")
        self._state.cases[case.number] = case
        self._state.uploads += [(case.number, u, b) for u, b in uploads]
        self._state.events.append(event)

    def case_for_update(self, number: str) -> Case | None:
        return self._state.cases.get(number)

    def save_case(
        self,
        case: Case,
        events: Sequence[CaseEvent],
        uploads: Sequence[tuple[Upload, bytes]] = (),
        *,
        expected_version: int | None = None,
    ) -> bool:
        stored = self._state.cases[case.number]
        if expected_version is not None and stored.version != expected_version:
            return False
        self._state.cases[case.number] = case
        self._state.events += events
        self._state.uploads += [(case.number, u, b) for u, b in uploads]
        return True

    def add_usage(
        self,
        checks: Sequence[CitationCheck],
        *,
        at: dt.datetime,
        client_id: str,
        case_number: str,
    ) -> None:
        self._usage += [Usage(c.identifier, c.verdict, client_id, case_number) for c in checks]

    def add_rating(self, rating: Rating, *, client_id: str) -> None:
        if rating.number in self._state.ratings:
            raise ConflictError("rated already", code="already_rated")
        self._state.ratings[rating.number] = rating

    def add_rectification(self, order: Rectification) -> int:
        order_id = len(self._state.orders) + 1
        self._state.orders[order_id] = replace(order, id=order_id)
        return order_id

    def rectification_for_update(self, order_id: int) -> Rectification | None:
        return self._state.orders.get(order_id)

    def save_rectification(self, order: Rectification) -> None:
        assert order.id is not None
        self._state.orders[order.id] = order

    def add_complaint(self, complaint: Complaint, *, client_id: str) -> int:
        complaint_id = len(self._state.complaints) + 1
        self._state.complaints[complaint_id] = replace(complaint, id=complaint_id)
        return complaint_id

    def complaint_for_update(self, complaint_id: int) -> Complaint | None:
        return self._state.complaints.get(complaint_id)

    def save_complaint(self, complaint: Complaint) -> None:
        assert complaint.id is not None
        self._state.complaints[complaint.id] = complaint

    def commit(self) -> None:
        self._store.state = self._state
        self._store.usage += self._usage
        self._store.commits += 1


class MemoryCaseStore:
    """The hall's ``CaseStore`` in memory; ``names`` stands for the registry's licences."""

    def __init__(
        self, names: dict[HolderRef, str] | None = None, *, usage: list[Usage] | None = None
    ) -> None:
        self.state = _State()
        self.commits = 0
        self.names = names or {}
        # the usage records committed with a case's step (give the citation checker's list:
        # one log of records, whichever way each was written)
        self.usage: list[Usage] = usage if usage is not None else []

    @contextmanager
    def unit_of_work(self) -> Iterator[MemoryUnitOfWork]:
        yield MemoryUnitOfWork(self)  # not committed: dropped with its copy

    def case(self, number: str) -> Case | None:
        return self.state.cases.get(number)

    def events(self, number: str) -> list[CaseEvent]:
        return [e for e in self.state.events if e.number == number]

    def upload(self, number: str, material: str) -> tuple[Upload, bytes] | None:
        found = [(u, b) for n, u, b in self.state.uploads if n == number and u.material == material]
        return found[-1] if found else None

    def registered_name(self, holder: HolderRef) -> str | None:
        return self.names.get(holder)

    def stored_upload(self, holder: HolderRef, sha256: str) -> tuple[Upload, bytes] | None:
        found = [
            (u, b)
            for n, u, b in self.state.uploads
            if u.sha256 == sha256 and self.state.cases[n].applicant.ref == holder
        ]
        return found[-1] if found else None


class FakeCitations:
    """Answers each identifier (or seal text, read as the identifier) with the licence and
    verdict the test set; keeps the usage records."""

    def __init__(self) -> None:
        self.licences: dict[str, tuple[CitedLicence, Verdict]] = {}
        self.usage: list[Usage] = []

    def hold(self, licence: CitedLicence, verdict: Verdict = Verdict.VALID) -> None:
        self.licences[licence.identifier] = (licence, verdict)

    def check(self, requests: Sequence[CitationRequest]) -> list[CitationCheck]:
        out = []
        for r in requests:
            ident = r.identifier if r.identifier is not None else r.seal
            found = self.licences.get(ident or "")
            presented = "identifier" if r.identifier is not None else "seal"
            if found is None:
                out.append(CitationCheck(Verdict.NOT_FOUND, ident, None, presented))
            else:
                out.append(CitationCheck(found[1], ident, found[0], presented))
        return out

    def record(
        self,
        checks: Sequence[CitationCheck],
        *,
        at: dt.datetime,
        client_id: str,
        case_number: str | None,
    ) -> None:
        self.usage += [Usage(c.identifier, c.verdict, client_id, case_number) for c in checks]


class FakeIssuer:
    """Checks a draft's data items against the licence catalogue (naming them as ``names``
    say), numbers a draft without a number, issues once per ``source_ref``."""

    def __init__(self, licences: Catalogue) -> None:
        self._licences = licences
        self.numbered = 0
        self.issued: dict[str, tuple[str, LicenceDraft]] = {}
        self.refuse_issue: Exception | None = None
        self.refuse_item: str | None = None  # a data item this issuer refuses whatever it says

    def check(self, draft: LicenceDraft, *, department: str, names: DraftFields) -> LicenceDraft:
        lt = self._licences.licence_type(draft.type_code)
        if self.refuse_item is not None:
            raise InputError("is refused", field=f"{names.data}.{self.refuse_item}")
        for item in lt.data_items:
            if item.required and not draft.data.get(item.name):
                raise InputError("is required", field=f"{names.data}.{item.name}")
        if not draft.holder.name:
            raise InputError("is required", field=f"{names.holder}.name")
        if draft.licence_number is None:
            self.numbered += 1
            draft = replace(draft, licence_number=f"N{self.numbered:04d}")
        if draft.valid_until is None:
            draft = replace(draft, valid_until=draft.valid_from + dt.timedelta(days=5 * 365))
        return draft

    def issue(self, draft: LicenceDraft, *, department: str, actor: str) -> IssuedLicence:
        if self.refuse_issue is not None:
            raise self.refuse_issue
        if draft.source_ref in self.issued:
            return IssuedLicence(self.issued[draft.source_ref][0], created=False)
        identifier = f"L-{len(self.issued) + 1}"
        self.issued[draft.source_ref] = (identifier, draft)
        return IssuedLicence(identifier, created=True)

    def find(self, *, department: str, source_ref: str) -> str | None:
        found = self.issued.get(source_ref)
        return found[0] if found else None
