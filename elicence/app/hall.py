"""Application layer: the hall's facade: the service-item catalogue, cases, ratings and complaints,
三率一数.

:class:`Hall` is what the API and the CLI call (``Elicence.hall``): one method per use case,
each given the :class:`~elicence.domain.clients.Client` the transport authenticated (by API key
or by the holder's web sign-in: it depends on nothing else) and delegating to the hall's use
cases (``hall/submission``, ``steps``, ``approval``, ``feedback``). This module also holds the
adapters that plug the rest of elicence into the hall's seams:

- :class:`ItemSource`: the item catalogue in force, cached, re-read when it changed;
- :class:`RegistryCitations`: the hall's ``CitationChecker`` — the verifier (``verify_seal``)
  against the trust list and the registry's status, answering the registry's unmasked record,
  and the registry's usage records (用证记录, naming the case);
- :class:`IssuerSeam`: the hall's ``LicenceIssuing`` — the issuer's check of a typed draft and
  its idempotent ``issue_draft`` (then a log checkpoint, as every issuance through the facade);
- :class:`GrantedOrOwn`: the hall's ``CitationPolicy`` — the applicant's own licences, or one
  its holder granted to the case or the hall (授权用证, ``app/holder.AuthorisedUse``);
- :class:`~elicence.registry.hall.HallStore` is its ``CaseStore``.

Invariant: nothing here decides a hall rule; the rules are in ``elicence/hall/`` (who lists
what: ``hall/roles``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elicence.app.catalogue import CatalogueSource
from elicence.app.holder import AuthorisedUse
from elicence.app.itemsearch import ItemSearch
from elicence.domain.catalogue import GUANGDONG_DIVISIONS
from elicence.domain.clients import Client, Role
from elicence.domain.codes import check_uscc
from elicence.domain.inputs import FIRST_DAY, check_day
from elicence.domain.licence import DraftFields, HolderRef, LicenceDraft, RegistryRecord
from elicence.errors import (
    CatalogueError,
    CatalogueUnavailableError,
    Error,
    InputError,
    NotFoundError,
)
from elicence.formats.seal import decode_seal_text, seal_text_from
from elicence.formats.trustlist import TrustList
from elicence.hall import roles
from elicence.hall.approval import Approval, Approving
from elicence.hall.calendar import WorkingCalendar
from elicence.hall.cases import (
    Case,
    CaseEvent,
    CitedLicence,
    Complaint,
    OrderStatus,
    Rating,
    Rectification,
    Upload,
    UploadIn,
)
from elicence.hall.feedback import Feedback, Progress
from elicence.hall.items import ItemCatalogue, check_against_licences
from elicence.hall.metrics import (
    GroupBy,
    Metrics,
    Period,
    compute_groups,
    parse_period,
    preceding,
)
from elicence.hall.ports import CitationCheck, CitationRequest, IssuedLicence, Seams
from elicence.hall.steps import Steps
from elicence.hall.submission import Submission
from elicence.hall.workflow import CaseAction, CaseStatus
from elicence.issuer import IssuanceService
from elicence.registry import Registry
from elicence.registry.hall import HallStore
from elicence.verifier import VerificationReport, verify_seal

__all__ = ["Hall", "IssuerSeam", "ItemSource", "RegistryCitations"]

MAX_LIST = 500


class ItemSource:
    """The service-item catalogue in force and its version id (cached; re-read when changed)."""

    RECHECK_SECONDS = 5.0

    def __init__(self, store: HallStore) -> None:
        self._store = store
        self._current: tuple[int, ItemCatalogue] | None = None
        self._search: tuple[int, ItemSearch] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> tuple[int, ItemCatalogue]:
        now = time.monotonic()
        current = self._current
        if current is None or now - self._checked > self.RECHECK_SECONDS:
            with self._lock:
                version = self._store.items_version()
                if version is None:
                    raise CatalogueUnavailableError(
                        "no service-item catalogue has been imported: run "
                        "`elicence items import FILE`",
                        code="no_item_catalogue",
                    )
                if current is None or current[0] != version:
                    loaded = self._store.items()
                    assert loaded is not None
                    # the search index (pinyin of every name and keyword) with each catalogue read
                    self._search = (loaded[0], ItemSearch(loaded[1]))
                    self._current = current = loaded
                self._checked = now
        return current

    def search(self) -> ItemSearch:
        """The search index of the catalogue in force (built when the catalogue was read)."""
        version, catalogue = self()
        found = self._search
        if found is None or found[0] != version:  # pragma: no cover - set with the catalogue
            found = self._search = (version, ItemSearch(catalogue))
        return found[1]

    def catalogue(self) -> ItemCatalogue:
        return self()[1]

    def knows_department(self, uscc: str) -> bool:
        """Whether the item catalogue in force names this department (its clerks may exist)."""
        try:
            return uscc in self.catalogue().departments
        except CatalogueError:
            return False

    def changed(self) -> None:
        self._checked = 0.0


class _Known:
    """The verifier's ``StatusSource`` answering from records read beforehand."""

    def __init__(self, records: Mapping[str, tuple[RegistryRecord, CitedLicence]]) -> None:
        self._records = records

    def lookup(self, identifier: str) -> RegistryRecord | None:
        found = self._records.get(identifier)
        return found[0] if found is not None else None


class GrantedOrOwn:
    """The hall's citation policy with authorised use (授权用证): an applicant cites its own
    licences, or one whose holder granted it to the case number or to the hall client that
    submits or acts on the case (``app/holder.AuthorisedUse``)."""

    def __init__(self, authorised: AuthorisedUse) -> None:
        self._authorised = authorised

    def may_cite(
        self, applicant: HolderRef, licence: CitedLicence, *, case: str | None, client: Client
    ) -> bool:
        decision = self._authorised.may_cite(
            applicant,
            licence.identifier,
            case=case,
            hall=client if client.role is Role.HALL else None,
            holder=licence.holder,
        )
        return decision.allowed


class RegistryCitations:
    """Verify cited e-licences — by seal (or QR URL), or by identifier from the registry —
    with the registry read once for all of them; record each use in the registry."""

    def __init__(
        self,
        store: HallStore,
        *,
        registry: Registry,
        trust_list: Callable[[], TrustList],
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._store = store
        self._registry = registry
        self._trust_list = trust_list
        self._clock = clock

    def record(
        self,
        checks: Sequence[CitationCheck],
        *,
        at: dt.datetime,
        client_id: str,
        case_number: str | None,
    ) -> None:
        for check in checks:
            self._registry.record_usage(
                at=at,
                client_id=client_id,
                identifier=check.identifier,
                channel=check.presented,
                verdict=str(check.verdict),
                case_number=case_number,
            )

    def check(self, requests: Sequence[CitationRequest]) -> list[CitationCheck]:
        now = self._clock()
        # 1. the identifiers to read: given, or read from the seal (verified below, not trusted)
        wanted = [
            r.identifier if r.identifier is not None else _identifier_in(r.seal) for r in requests
        ]
        records = self._store.cited([i for i in wanted if i is not None])
        status = _Known(records)
        trust_list = self._trust_list()
        out = []
        for request, asked in zip(requests, wanted, strict=True):
            ident = asked
            found = records.get(ident) if ident is not None else None
            if request.seal is not None:
                report = verify_seal(request.seal, trust_list=trust_list, status=status, now=now)
                ident = report.licence.identifier if report.licence else None
                found = records.get(ident) if ident is not None else None
                presented = "seal"
            elif found is None:
                report = VerificationReport.not_found(checked_at=now)
                presented = "identifier"
            else:
                # 2. by identifier: the registry's own seal, verified as if presented
                report = verify_seal(found[0].seal, trust_list=trust_list, status=status, now=now)
                presented = "identifier"
            out.append(
                CitationCheck(
                    report.verdict,
                    ident,
                    found[1] if found is not None else None,
                    presented,
                    _why(report),
                )
            )
        return out


def _identifier_in(seal: str | None) -> str | None:
    """The identifier a seal claims (None if it does not decode: the verifier will say why)."""
    if seal is None:
        return None
    try:
        return decode_seal_text(seal_text_from(seal)).claims.licence.identifier
    except Error:
        return None


def _why(report: VerificationReport) -> str:
    failed = next((c for c in report.checks if not c.passed), None)
    return f"{failed.name}: {failed.detail}" if failed is not None else ""


class IssuerSeam:
    """The issuer, as the hall's ``LicenceIssuing``: check a draft, issue it (idempotent by its
    ``source_ref``, then a log checkpoint as every issuance through the facade), find."""

    def __init__(
        self,
        issuer: IssuanceService,
        *,
        registry: Registry,
        after_issue: Callable[[], object],
    ) -> None:
        self._issuer = issuer
        self._registry = registry
        self._after_issue = after_issue

    def check(self, draft: LicenceDraft, *, department: str, names: DraftFields) -> LicenceDraft:
        request = self._issuer.check_draft(draft, department=department, names=names)
        return LicenceDraft.of(request)

    def issue(self, draft: LicenceDraft, *, department: str, actor: str) -> IssuedLicence:
        result = self._issuer.issue_draft(draft, department=department, actor=actor)
        self._after_issue()
        return IssuedLicence(result.licence.identifier, result.created)

    def find(self, *, department: str, source_ref: str) -> str | None:
        with self._registry.unit_of_work() as uow:
            lic = uow.licence_by_source_ref(department, source_ref)
        return lic.identifier if lic is not None else None


@dataclass(frozen=True, slots=True)
class MetricsReport:
    period: Period
    group_by: GroupBy
    rows: list[Metrics]


class Hall:
    """The hall's use cases for the transports. Built only by ``bootstrap.assemble``."""

    def __init__(
        self,
        *,
        store: HallStore,
        items: ItemSource,
        licences: CatalogueSource,
        seams: Seams,
    ) -> None:
        self._store = store
        self._items = items
        self._licences = licences
        self._clock = seams.clock
        self.calendar: WorkingCalendar = seams.calendar  # the working days of deadlines
        self._submission = Submission(seams)
        self._steps = Steps(seams)
        self._approving = Approving(seams)
        self._feedback = Feedback(seams)

    # -- the service-item catalogue ---------------------------------------------------------

    def import_items(self, catalogue: ItemCatalogue) -> int:
        """Store a new item catalogue after checking it against the licence catalogue."""
        check_against_licences(catalogue, self._licences())
        version = self._store.save_items(catalogue, now=self._clock())
        self._items.changed()
        return version

    def items(self) -> ItemCatalogue:
        return self._items.catalogue()

    def find_items(self, query: str) -> list[str]:
        """The codes of the items in force a citizen's query finds: a substring of the name,
        code, department or a keyword, or pinyin initials or syllables (``app/itemsearch``)."""
        return self._items.search().find(query)

    def items_version(self) -> int | None:
        return self._store.items_version()

    def today(self) -> dt.date:
        return self._steps.today()

    # -- cases ----------------------------------------------------------------------------------

    def submit(
        self, client: Client, raw: Mapping[str, Any], uploads: Sequence[UploadIn] = ()
    ) -> Case:
        return self._submission.submit(raw, uploads, client=client)

    def submit_many(
        self,
        client: Client,
        applications: Sequence[tuple[Mapping[str, Any], Sequence[UploadIn]]],
    ) -> list[Case]:
        """A scenario bundle's applications, one case each, all stored or none (the error of
        the first refused names ``items[i].<field>``)."""
        return self._submission.submit_many(applications, client=client)

    def case(self, client: Client, number: str) -> Case:
        return self._steps.case_for(client, number)

    def timeline(self, client: Client, number: str) -> tuple[Case, list[CaseEvent]]:
        return self._steps.timeline(client, number)

    def cases(
        self,
        client: Client,
        *,
        department: str | None = None,
        status: str | None = None,
        item_code: str | None = None,
        overdue: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Case]:
        """Cases this client may see: a holder its own, a clerk its department's, the hall and
        admins every one (with filters)."""
        if not 1 <= limit <= MAX_LIST:
            raise InputError(f"must be between 1 and {MAX_LIST}", field="limit")
        if offset < 0:
            raise InputError("must be 0 or more", field="offset")
        wanted = None
        if status is not None:
            try:
                wanted = CaseStatus(status)
            except ValueError:
                raise InputError(
                    f"must be one of {', '.join(CaseStatus)}", field="status"
                ) from None
        if department is not None:
            department = check_uscc(department, field="department")
        scope = roles.case_scope(client, department=department)
        if scope.empty:
            return []
        return self._store.cases(
            department=scope.department,
            applicant=scope.applicant,
            status=wanted,
            item_code=item_code,
            overdue_on=self.today() if overdue else None,
            limit=limit,
            offset=offset,
        )

    def act(
        self, client: Client, number: str, action: CaseAction, *, reason: str | None = None
    ) -> Case:
        return self._steps.act(number, action, client=client, reason=reason)

    def supplement(
        self,
        client: Client,
        number: str,
        raw: Mapping[str, Any],
        uploads: Sequence[UploadIn] = (),
    ) -> Case:
        return self._submission.supplement(number, raw, uploads, client=client)

    def approve(
        self, client: Client, number: str, raw: Mapping[str, Any] | None = None
    ) -> Approval:
        return self._approving.approve(number, raw, client=client)

    def record_visit(self, client: Client, number: str, *, note: str | None = None) -> Case:
        return self._steps.record_visit(number, client=client, note=note)

    def upload(self, client: Client, number: str, material: str) -> tuple[Upload, bytes]:
        return self._steps.upload(client, number, material)

    def progress(self, number: str, holder: HolderRef) -> Progress:
        """Progress and result by case number and the applicant's id (no login)."""
        return self._feedback.progress(number, holder)

    # -- ratings, rectification, complaints -----------------------------------------------------

    def rate(
        self, client: Client, number: str, raw: Mapping[str, Any]
    ) -> tuple[Rating, Rectification | None]:
        return self._feedback.rate(number, raw, client=client)

    def rating(self, client: Client, number: str) -> Rating:
        case = self._steps.case_for(client, number)
        rating = self._store.rating(case.number)
        if rating is None:
            raise NotFoundError(f"case {case.number} has not been rated", field="case_number")
        return rating

    def rectification_of(self, client: Client, number: str) -> Rectification | None:
        """The rectification order a bad rating of this case opened, for whoever may read the
        case (its applicant sees what became of its 差评)."""
        case = self._steps.case_for(client, number)
        orders = self._store.rectifications(department=case.department)
        return next((o for o in orders if o.number == case.number), None)

    def complain(self, client: Client, number: str, raw: object) -> Complaint:
        return self._feedback.complain(number, raw, client=client)

    def complaints(self, client: Client, *, number: str | None = None) -> list[Complaint]:
        scope = roles.complaint_scope(client)
        if scope.empty:
            return []
        return self._store.complaints(
            department=scope.department, applicant=scope.applicant, number=number
        )

    def answer(self, client: Client, complaint_id: int, raw: object) -> Complaint:
        return self._feedback.answer(complaint_id, raw, client=client)

    def rectifications(self, client: Client, *, status: str | None = None) -> list[Rectification]:
        scope = roles.rectification_scope(client)
        wanted = None
        if status is not None:
            try:
                wanted = OrderStatus(status)
            except ValueError:
                raise InputError("must be open or resolved", field="status") from None
        if scope.empty:
            return []
        return self._store.rectifications(department=scope.department, status=wanted)

    def resolve_rectification(self, client: Client, order_id: int, note: object) -> Rectification:
        return self._feedback.resolve_rectification(order_id, note, client=client)

    # -- 三率一数 ---------------------------------------------------------------------------------

    def metrics(
        self, *, period: str, group_by: str = "department", group: str | None = None
    ) -> MetricsReport:
        """三率一数 and the composite score of every group in a period (public: the seed has
        效能监察 open to the public's supervision)."""
        p = _bounded(parse_period(period))
        try:
            by = GroupBy(group_by)
        except ValueError:
            raise InputError(f"must be one of {', '.join(GroupBy)}", field="group_by") from None
        facts = self._store.facts(start=p.start, end=p.end)
        catalogue = self._store.items_at(p.end)
        names: dict[str, str] = {"all": "全部"}
        names.update(GUANGDONG_DIVISIONS)
        weights = None
        if catalogue is not None:
            names.update({d.uscc: d.name_zh for d in catalogue.departments.values()})
            weights = catalogue.weights_for(p.first)
        rows = compute_groups(
            facts,
            group_by=by,
            names=names,
            only=[group] if group is not None else None,
            **({"weights": weights} if weights is not None else {}),
        )
        return MetricsReport(p, by, rows)

    def metrics_trend(
        self, *, period: str, group_by: str, group: str, count: int
    ) -> list[tuple[Period, Metrics | None]]:
        """One group's metrics over the ``count`` periods of ``period``'s kind that end with it,
        oldest first (public, as :meth:`metrics`); ``None`` where the group had nothing."""
        out: list[tuple[Period, Metrics | None]] = []
        for p in preceding(_bounded(parse_period(period)), count):
            if p.first < FIRST_DAY:  # before the dates the service takes: not a period to show
                continue
            rows = self.metrics(period=p.label, group_by=group_by, group=group).rows
            out.append((p, rows[0] if rows else None))
        return out


def _bounded(period: Period) -> Period:
    """``period`` if its days lie within the dates the service takes (domain/inputs.check_day):
    its start and end, converted to UTC for the queries, stay far from the calendar's ends
    (``0001-01`` and ``9999`` overflowed there)."""
    check_day(period.first, field="period")
    check_day(period.last, field="period")
    return period
