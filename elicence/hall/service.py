"""The hall's use cases: submit a case citing e-licences, move it through the workflow, approve
it (issuing the item's licence), count visits, answer progress queries, rate and complain.

Given everything it needs through Protocol seams (wired by ``bootstrap``/``app/hall.py``): the
:class:`CaseStore` (the registry), a :class:`CitationChecker` (the verifier over the registry's
status), a :class:`LicenceIssuing` (the issuer), a :class:`UsageLog` (usage records), and a
:class:`CitationPolicy` (may this applicant cite this licence?). It imports none of them.

Invariants:
- a case is stored whole (case, uploads, first event) in one transaction after every field,
  upload and cited e-licence passed, or not at all;
- every cited e-licence is verified at submission (and each supplement) and again at approval;
  each check leaves a usage record (用证记录) naming the case (none when the submission it
  belonged to was refused, since no case exists);
- a cited licence must be one the :class:`CitationPolicy` allows: the service wires
  ``app/hall.GrantedOrOwn`` (the applicant's own, or granted to the case or the hall: 授权用证);
  :class:`OwnLicencesOnly`, the default, allows only the applicant's own;
- an approval issues at most one licence per case, whatever is retried or interrupted: the case
  enters ``issuing`` with its issuance request stored before the issuer is called, and the
  issuer is idempotent by ``source_ref`` = the case number;
- the use case owns each transaction: the store's unit of work only executes; one commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from elicence.domain.catalogue import Catalogue
from elicence.domain.clients import Client, Role
from elicence.domain.licence import HolderRef, china_today
from elicence.errors import (
    ConflictError,
    Error,
    IllegalTransitionError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from elicence.hall import roles
from elicence.hall.application import (
    SUPPLEMENT_FIELDS,
    CitationIn,
    check_application,
    check_citations,
    check_form,
    check_uploads,
    text,
)
from elicence.hall.calendar import WorkingCalendar
from elicence.hall.cases import (
    RECTIFY_BELOW,
    Case,
    CaseEvent,
    Citation,
    CitedLicence,
    Complaint,
    OrderStatus,
    Rating,
    RatingDimension,
    Rectification,
    Upload,
    UploadIn,
)
from elicence.hall.items import ItemCatalogue
from elicence.hall.numbers import case_number, new_case_number
from elicence.hall.workflow import (
    MAX_REASON,
    NEEDS_REASON,
    CaseAction,
    CaseStatus,
    next_status,
)

VALID = "valid"  # the verifier's verdict for a good licence (elicence.verifier.Verdict.VALID)
A, S = CaseAction, CaseStatus
# the actions a clerk calls by name; approve and supplement have their own use cases
SIMPLE_ACTIONS = frozenset(
    {
        A.ACCEPT,
        A.REJECT,
        A.REQUEST_CORRECTION,
        A.START_REVIEW,
        A.REQUEST_SUPPLEMENT,
        A.REFUSE,
        A.COMPLETE,
    }
)
DECISION_FIELDS = frozenset({"licence_number", "valid_until", "data", "note"})
MAX_COMMENT = 500
MAX_COMPLAINT = 1000


# -- the seams ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CitationRequest:
    """A licence to check: its seal text (or QR URL), or its identifier (already checked)."""

    seal: str | None
    identifier: str | None


@dataclass(frozen=True, slots=True)
class CitationCheck:
    """What the verifier said of a cited e-licence, and the registry's record of it."""

    verdict: str  # a verifier verdict: valid, invalid, untrusted, revoked, …
    identifier: str | None
    licence: CitedLicence | None  # the registry's record (holder unmasked), when it has one
    presented: str  # "seal" or "identifier"
    why: str = ""  # the first failed check, for the message


class CitationChecker(Protocol):
    def check(self, requests: Sequence[CitationRequest]) -> list[CitationCheck]:
        """One check per request, in order (the registry read once for all of them)."""
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
    def check(self, raw: Mapping[str, Any], *, department: str) -> None: ...
    def issue(self, raw: Mapping[str, Any], *, department: str, actor: str) -> IssuedLicence: ...
    def find(self, *, department: str, source_ref: str) -> str | None: ...


class UsageLog(Protocol):
    def record_usage(
        self,
        *,
        at: dt.datetime,
        client_id: str | None,
        identifier: str | None,
        channel: str,
        verdict: str,
        case_number: str | None = None,
    ) -> None: ...


class CaseUnitOfWork(Protocol):
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
    def rating(self, number: str) -> Rating | None: ...


# -- errors that name the verdict -----------------------------------------------------------------


def cited_licence_error(check: CitationCheck, *, field: str, at_approval: bool) -> Error:
    """A refused citation, its code naming the verifier's verdict (``cited_licence_revoked``)."""
    what = check.identifier or "the cited licence"
    message = f"{what} is {check.verdict}" + (f" ({check.why})" if check.why else "")
    message += ": it cannot stand for the material"
    code = f"cited_licence_{check.verdict}"
    if at_approval:
        return ConflictError(
            f"{message} any more; ask the applicant for a supplement (补正) citing a valid one",
            field=field,
            code=code,
        )
    return InputError(message, field=field, code=code)


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Approval:
    case: Case
    licence: str | None  # the licence issued (or found issued) for the case
    created: bool  # False: a retry, answered with the licence issued before


@dataclass(frozen=True, slots=True)
class Progress:
    case: Case
    events: list[CaseEvent]
    overdue: bool


class CaseService:
    """The hall's use cases. Given everything it needs; reads no settings."""

    def __init__(
        self,
        *,
        store: CaseStore,
        items: Callable[[], tuple[int, ItemCatalogue]],
        licences: Callable[[], Catalogue],
        citations: CitationChecker,
        issuer: LicenceIssuing,
        usage: UsageLog,
        calendar: WorkingCalendar,
        clock: Callable[[], dt.datetime],
        policy: CitationPolicy | None = None,
        rectify_days: int = 15,
    ) -> None:
        self._store = store
        self._items = items
        self._licences = licences
        self._citations = citations
        self._issuer = issuer
        self._usage = usage
        self.calendar = calendar
        self._clock = clock
        self._policy = policy or OwnLicencesOnly()
        self.rectify_days = rectify_days

    # -- submission -----------------------------------------------------------------------------

    def submit(
        self, raw: Mapping[str, Any], uploads: Sequence[UploadIn], *, client: Client
    ) -> Case:
        """Check and store a new case; every cited e-licence is verified first."""
        if not isinstance(raw, Mapping):
            raise InputError("the application must be a JSON object", field=None)
        code = raw.get("item_code")
        if not isinstance(code, str):
            raise InputError("is required: the code of a service item", field="item_code")
        item_version, catalogue = self._items()
        item = catalogue.item(code)
        channel = roles.check_may_submit(client, item)
        app = check_application(raw, item=item, client=client, channel=channel, uploads=uploads)
        now = self._clock()
        if item.issues is not None:  # refuse now what approval could not issue
            provisional = self._issuance_request(
                number="PROVISIONAL",
                item_issues=item.issues,
                applicant_name=app.applicant.name,
                applicant=app.applicant.ref,
                form=app.form,
                today=china_today(now),
                decision={},
            )
            self._check_issuable(provisional, item.department, form_fields=True)
        checks = self._verify(app.citations, app.applicant.ref, client=client, now=now)
        division = catalogue.department(item.department).division_code
        stored = [(Upload.of(up, filename=name, at=now), up.content) for up, name in app.uploads]
        for _attempt in range(3):
            number = new_case_number(division, china_today(now))
            case = Case(
                number=number,
                item=item,
                division=division,
                applicant=app.applicant,
                channel=app.channel,
                status=S.SUBMITTED,
                submitted_at=now,
                form=app.form,
                citations=tuple(_citation(c, chk, now) for c, chk in checks),
                uploads=tuple(u for u, _ in stored),
                applicant_client=client.id,
                item_version=item_version,
            )
            event = CaseEvent(number, now, "submit", None, S.SUBMITTED, client.id)
            try:
                with self._store.unit_of_work() as uow:
                    uow.add_case(case, stored, event)
                    uow.commit()
            except ConflictError:
                continue  # a case number drawn twice (about 1 in 2**41 a day): draw again
            self._record(checks, client=client, number=number, now=now)
            return case
        raise ConflictError("could not draw a free case number; retry")  # pragma: no cover

    def _verify(
        self,
        citations: Sequence[CitationIn],
        applicant: HolderRef,
        *,
        client: Client,
        now: dt.datetime,
        number: str | None = None,
    ) -> list[tuple[CitationIn, CitationCheck]]:
        """Verify every cited e-licence (each check recorded if one is refused; else by the
        caller, naming the case); the first one refused raises."""
        if not citations:
            return []
        checks = self._citations.check([CitationRequest(c.seal, c.identifier) for c in citations])
        done = list(zip(citations, checks, strict=True))
        for c, check in done:
            problem = self._citation_problem(
                c, check, applicant, f"licences[{c.index}]", number=number, client=client
            )
            if problem is not None:
                self._record(done, client=client, number=number, now=now)
                raise problem
        return done

    def _citation_problem(
        self,
        c: CitationIn,
        check: CitationCheck,
        applicant: HolderRef,
        where: str,
        *,
        number: str | None,
        client: Client,
    ) -> Error | None:
        if check.verdict != VALID or check.licence is None:
            return cited_licence_error(check, field=where, at_approval=False)
        lic = check.licence
        if lic.type_code != c.material.licence_type:
            licences = self._licences().licence_types
            got = licences.get(lic.type_code)
            want = licences.get(c.material.licence_type)
            return InputError(
                f"cites a {got.name_zh if got else lic.type_code}; material {c.material.name!r} "
                f"needs a {want.name_zh if want else c.material.licence_type}",
                field=where,
                code="cited_licence_wrong_type",
            )
        if not self._policy.may_cite(applicant, lic, case=number, client=client):
            return PermissionDeniedError(
                f"{lic.identifier} is another holder's licence: an applicant cites its own, or "
                "one whose holder granted its use (授权用证) to this case or to this hall",
                field=where,
                code="cited_licence_not_authorised",
            )
        return None

    @contextmanager
    def _recording(
        self,
        checks: list[tuple[CitationIn | Citation, CitationCheck]],
        *,
        client: Client,
        number: str | None,
        now: dt.datetime,
    ) -> Iterator[None]:
        """Record ``checks`` (as filled meanwhile) when the block ends, however it ends."""
        try:
            yield
        finally:
            if checks:
                self._record(checks, client=client, number=number, now=now)

    def _record(
        self,
        checks: Sequence[tuple[CitationIn | Citation, CitationCheck]],
        *,
        client: Client,
        number: str | None,
        now: dt.datetime,
    ) -> None:
        for _c, check in checks:
            self._usage.record_usage(
                at=now,
                client_id=client.id,
                identifier=check.identifier,
                channel=check.presented,
                verdict=check.verdict,
                case_number=number,
            )

    # -- reading --------------------------------------------------------------------------------

    def case_for(self, client: Client, number: str) -> Case:
        n = case_number(number)
        return roles.check_may_read(client, self._store.case(n), n)

    def timeline(self, client: Client, number: str) -> tuple[Case, list[CaseEvent]]:
        case = self.case_for(client, number)
        return case, self._store.events(case.number)

    def upload(self, client: Client, number: str, material: str) -> tuple[Upload, bytes]:
        case = self.case_for(client, number)
        found = self._store.upload(case.number, material)
        if found is None:
            raise NotFoundError(f"case {case.number} has no upload {material!r}", field="material")
        return found

    def progress(self, number: str, holder: HolderRef) -> Progress:
        """Progress and result for whoever knows the case number and the applicant's id.

        An unknown number and a wrong holder get the same answer (no oracle for either)."""
        n = case_number(number)
        case = self._store.case(n)
        if case is None or case.applicant.ref != holder:
            raise NotFoundError("no case with this number for this applicant", field="case_number")
        today = china_today(self._clock())
        return Progress(case, self._store.events(n), case.overdue(today))

    def today(self) -> dt.date:
        return china_today(self._clock())

    # -- the workflow ---------------------------------------------------------------------------

    def act(
        self, number: str, action: CaseAction, *, client: Client, reason: str | None = None
    ) -> Case:
        """A clerk's or the hall's step: accept, reject, ask for corrections or a supplement,
        start the review, refuse, complete."""
        if action not in SIMPLE_ACTIONS:
            raise InputError(f"{action} is not one of these steps", field="action")
        why = _reason(reason, required=action in NEEDS_REASON)
        n = case_number(number)
        now = self._clock()
        today = china_today(now)
        with self._store.unit_of_work() as uow:
            case = uow.case_for_update(n)
            if case is None:
                raise NotFoundError(f"no case {n} for this client", field="case_number")
            roles.check_may_act(client, case, action)
            after = next_status(n, case.status, action)
            changed = replace(case, status=after, version=case.version + 1)
            if action is A.ACCEPT:
                changed = replace(
                    changed,
                    accepted_on=today,
                    due_on=self.calendar.add_working_days(today, case.item.promised_days),
                )
            elif action is A.REQUEST_SUPPLEMENT:
                changed = replace(changed, paused_since=today)
            elif action in (A.REJECT, A.REFUSE):
                changed = replace(changed, decided_at=now)
            elif action is A.COMPLETE:
                changed = replace(changed, completed_at=now)
            if why:
                changed = replace(changed, reason=why)
            detail = {"reason": why} if why else {}
            if changed.due_on is not None and action is A.ACCEPT:
                detail["due_on"] = changed.due_on.isoformat()
            uow.save_case(
                changed, [CaseEvent(n, now, action, case.status, after, client.id, detail)]
            )
            uow.commit()
        return changed

    def supplement(
        self,
        number: str,
        raw: Mapping[str, Any],
        uploads: Sequence[UploadIn],
        *,
        client: Client,
    ) -> Case:
        """The applicant hands in what a correction or supplement request asked: form values,
        e-licences (verified now), uploads. The clock restarts, later by the paused days."""
        if not isinstance(raw, Mapping):
            raise InputError("the supplement must be a JSON object", field=None)
        unknown = set(raw) - SUPPLEMENT_FIELDS
        if unknown:
            raise InputError("is not a field of a supplement", field=sorted(unknown)[0])
        n = case_number(number)
        case = self._store.case(n)
        if case is None:
            raise NotFoundError(f"no case {n} for this client", field="case_number")
        roles.check_may_act(client, case, A.SUPPLEMENT)
        next_status(n, case.status, A.SUPPLEMENT)  # fail fast: nothing verified, nothing written
        form = check_form(raw.get("form"), case.item, partial=True)
        cited = check_citations(raw.get("licences"), case.item, partial=True)
        checked = check_uploads(uploads, case.item, partial=True)
        note = _reason(raw.get("note"), required=False)
        now = self._clock()
        today = china_today(now)
        checks = self._verify(cited, case.applicant.ref, client=client, now=now, number=n)
        stored = [(Upload.of(up, filename=name, at=now), up.content) for up, name in checked]
        with self._store.unit_of_work() as uow:
            locked = uow.case_for_update(n)
            assert locked is not None  # cases are never deleted
            after = next_status(n, locked.status, A.SUPPLEMENT)
            new_citations = {c.material: c for c in locked.citations}
            new_citations.update({c.material.name: _citation(c, k, now) for c, k in checks})
            new_uploads = {u.material: u for u in locked.uploads}
            new_uploads.update({u.material: u for u, _ in stored})
            changed = replace(
                locked,
                status=after,
                form={**locked.form, **form},
                citations=tuple(new_citations.values()),
                uploads=tuple(new_uploads.values()),
                version=locked.version + 1,
            )
            detail: dict[str, object] = {
                "form": sorted(form),
                "licences": sorted(c.material.name for c, _ in checks),
                "uploads": sorted(u.material for u, _ in stored),
            }
            if note:
                detail["note"] = note
            if locked.status is S.AWAITING_SUPPLEMENT and locked.paused_since is not None:
                paused = self.calendar.working_days_between(locked.paused_since, today)
                assert locked.due_on is not None
                changed = replace(
                    changed,
                    paused_since=None,
                    paused_days=locked.paused_days + paused,
                    due_on=self.calendar.add_working_days(locked.due_on, paused)
                    if paused
                    else locked.due_on,
                )
                detail["paused_working_days"] = paused
                if changed.due_on is not None:
                    detail["due_on"] = changed.due_on.isoformat()
            uow.save_case(
                changed,
                [CaseEvent(n, now, A.SUPPLEMENT, locked.status, after, client.id, detail)],
                stored,
            )
            uow.commit()
        self._record(checks, client=client, number=n, now=now)
        return changed

    def record_visit(self, number: str, *, client: Client, note: str | None = None) -> Case:
        """An on-site visit (到现场) of the applicant for this case, counted for 三率一数."""
        n = case_number(number)
        why = _reason(note, required=False)
        now = self._clock()
        with self._store.unit_of_work() as uow:
            case = uow.case_for_update(n)
            if case is None:
                raise NotFoundError(f"no case {n} for this client", field="case_number")
            roles.check_may_record_visit(client, case)
            if case.final:
                raise IllegalTransitionError(
                    f"case {n} is {case.status} ({case.status.label_zh}): no more visits are "
                    "counted for it",
                    field="status",
                )
            changed = replace(case, visits=case.visits + 1, version=case.version + 1)
            detail: dict[str, object] = {"visits": changed.visits}
            if why:
                detail["note"] = why
            uow.save_case(
                changed, [CaseEvent(n, now, "visit", case.status, case.status, client.id, detail)]
            )
            uow.commit()
        return changed

    # -- approval and issuance ------------------------------------------------------------------

    def approve(self, number: str, raw: Mapping[str, Any] | None, *, client: Client) -> Approval:
        """Approve a case under review. An item that issues a licence issues it now, through
        the issuer, idempotently (``source_ref`` = the case number), and links it to the case.

        1. the case may be approved by this client, from its status (nothing written if not);
        2. from review: every cited e-licence is verified again (each check recorded);
        3. the issuance request is built and checked (nothing written if it would not issue);
        4. the case enters ``issuing`` with that request stored (one transaction);
        5. the issuer issues it (or answers the licence already issued under the case number);
        6. the case becomes ``approved``, linked to the licence (one transaction).
        A retry after 5 or 6 failed resumes at 5 with the stored request: one licence, ever.
        """
        decision = _decision(raw)
        n = case_number(number)
        now = self._clock()
        today = china_today(now)
        rechecks: list[tuple[CitationIn | Citation, CitationCheck]] = []
        # the re-checks' usage records are written once the case's transaction has ended (each
        # is a durable write of its own, which must not wait on the case's write lock)
        with (
            self._recording(rechecks, client=client, number=n, now=now),
            self._store.unit_of_work() as uow,
        ):
            # 1.
            case = uow.case_for_update(n)
            if case is None:
                raise NotFoundError(f"no case {n} for this client", field="case_number")
            issues = case.item.issues
            action = A.APPROVE if issues is None else A.APPROVE_AND_ISSUE
            roles.check_may_act(client, case, action)
            after = next_status(n, case.status, action)
            # 2.
            rechecked = case.citations
            if case.status is S.UNDER_REVIEW:
                rechecked = tuple(self._recheck(case, now=now, into=rechecks))
            if issues is None:
                approved = replace(
                    case,
                    status=after,
                    decided_at=now,
                    citations=rechecked,
                    reason=decision.get("note") or case.reason,
                    version=case.version + 1,
                )
                uow.save_case(approved, [CaseEvent(n, now, action, case.status, after, client.id)])
                uow.commit()
                return Approval(approved, None, False)
            # 3.
            if case.status is S.ISSUING and case.issuance is not None:
                request: Mapping[str, Any] = case.issuance  # an interrupted approval resumes
                pending = case
            else:
                request = self._issuance_request(
                    number=n,
                    item_issues=issues,
                    applicant_name=case.applicant.name,
                    applicant=case.applicant.ref,
                    form=case.form,
                    today=today,
                    decision=decision,
                )
                self._check_issuable(request, case.department, form_fields=False)
                # 4.
                pending = replace(
                    case,
                    status=after,
                    issuance=dict(request),
                    citations=rechecked,
                    version=case.version + 1,
                )
                event = CaseEvent(
                    n, now, action, case.status, after, client.id, {"licence_type": issues}
                )
                uow.save_case(pending, [event])
                uow.commit()
        # 5.
        try:
            issued = self._issuer.issue(request, department=case.department, actor=client.id)
        except ConflictError as e:
            if e.code != "source_ref_conflict":
                raise
            found = self._issuer.find(department=case.department, source_ref=n)
            if found is None:  # pragma: no cover - the issuer said it holds one
                raise
            issued = IssuedLicence(found, created=False)
        # 6. (optimistic: the case as step 4 left it, unless a concurrent approval moved it)
        with self._store.unit_of_work() as uow:
            current = pending
            approved = self._linked(current, issued, decision, now)
            event = CaseEvent(
                n,
                now,
                A.LICENCE_ISSUED,
                current.status,
                approved.status,
                client.id,
                {"licence": issued.identifier, "created": issued.created},
            )
            if not uow.save_case(approved, [event], expected_version=current.version):
                current = self._locked(uow, n)
                if current.status is S.APPROVED and current.licence == issued.identifier:
                    return Approval(current, issued.identifier, False)  # a twin finished
                approved = self._linked(current, issued, decision, now)
                event = replace(event, from_status=current.status)
                uow.save_case(approved, [event])
            uow.commit()
        return Approval(approved, issued.identifier, issued.created)

    @staticmethod
    def _linked(
        case: Case, issued: IssuedLicence, decision: Mapping[str, Any], now: dt.datetime
    ) -> Case:
        after = next_status(case.number, case.status, A.LICENCE_ISSUED)
        return replace(
            case,
            status=after,
            licence=issued.identifier,
            decided_at=now,
            reason=decision.get("note") or case.reason,
            version=case.version + 1,
        )

    def _recheck(
        self,
        case: Case,
        *,
        now: dt.datetime,
        into: list[tuple[CitationIn | Citation, CitationCheck]],
    ) -> list[Citation]:
        """Verify the case's cited e-licences again (by identifier); refuse if one is not valid.
        The checks are added to ``into``, for the caller to record (:meth:`_recording`)."""
        if not case.citations:
            return []
        checks = self._citations.check(
            [CitationRequest(None, c.identifier) for c in case.citations]
        )
        done = list(zip(case.citations, checks, strict=True))
        into.extend(done)
        for i, (_c, check) in enumerate(done):
            if check.verdict != VALID:
                raise cited_licence_error(check, field=f"citations[{i}]", at_approval=True)
        return [replace(c, verdict=check.verdict, checked_at=now) for c, check in done]

    def _issuance_request(
        self,
        *,
        number: str,
        item_issues: str,
        applicant_name: str,
        applicant: HolderRef,
        form: Mapping[str, str],
        today: dt.date,
        decision: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The issuance request an approval makes: the applicant as holder, the form's values of
        the type's data items (the decision's ``data`` over them), valid from today."""
        lt = self._licences().licence_type(item_issues)
        data = {d.name: form[d.name] for d in lt.data_items if d.name in form}
        data.update(decision.get("data") or {})
        return {
            "source_ref": number,
            "type_code": item_issues,
            "licence_number": decision.get("licence_number") or number,
            "holder": {
                "name": applicant_name,
                "id_type": str(applicant.id_type),
                "id_number": applicant.id_number,
            },
            "valid_from": today.isoformat(),
            "valid_until": decision.get("valid_until"),
            "data": data,
        }

    def _check_issuable(
        self, request: Mapping[str, Any], department: str, *, form_fields: bool
    ) -> None:
        try:
            self._issuer.check(request, department=department)
        except InputError as e:
            field = e.field
            if form_fields and field is not None:
                field = field.replace("data.", "form.", 1).replace("holder.", "applicant.", 1)
            raise InputError(e.message, field=field, code=e.code) from e

    @staticmethod
    def _locked(uow: CaseUnitOfWork, number: str) -> Case:
        case = uow.case_for_update(number)
        if case is None:  # pragma: no cover - cases are never deleted
            raise NotFoundError(f"no case {number}", field="case_number")
        return case

    # -- ratings, rectification, complaints -------------------------------------------------------

    def rate(
        self, number: str, raw: Mapping[str, Any], *, client: Client
    ) -> tuple[Rating, Rectification | None]:
        """The applicant rates a finished case (好差评), once; 1 or 2 stars open a work order."""
        stars, dimensions, comment = _rating(raw)
        n = case_number(number)
        now = self._clock()
        with self._store.unit_of_work() as uow:
            case = uow.case_for_update(n)
            if case is None or not roles.is_applicant(client, case):
                raise NotFoundError(f"no case {n} of this applicant", field="case_number")
            if not case.final:
                raise ConflictError(
                    f"case {n} is {case.status} ({case.status.label_zh}): a case is rated once "
                    "it is finished (办结 or 不予受理)",
                    field="status",
                    code="case_not_finished",
                )
            rating = Rating(n, now, stars, dimensions, comment)
            uow.add_rating(rating, client_id=client.id)  # a second rating: ConflictError
            order = None
            if stars < RECTIFY_BELOW:
                order = Rectification(
                    None,
                    n,
                    case.department,
                    now,
                    self.calendar.add_working_days(china_today(now), self.rectify_days),
                )
                order = replace(order, id=uow.add_rectification(order))
            uow.commit()
        return rating, order

    def resolve_rectification(
        self, order_id: int, note: object, *, client: Client
    ) -> Rectification:
        text_ = _reason(note, required=True, field="note")
        now = self._clock()
        with self._store.unit_of_work() as uow:
            order = uow.rectification_for_update(order_id)
            if order is None or not (
                client.role is Role.ADMIN
                or (client.role is Role.DEPARTMENT and client.department == order.department)
            ):
                raise NotFoundError(
                    f"no rectification order {order_id} for this client", field="id"
                )
            if client.role is not Role.DEPARTMENT:
                raise PermissionDeniedError("the handling department resolves its work orders")
            if order.status is OrderStatus.RESOLVED:
                raise IllegalTransitionError(
                    f"work order {order_id} is already resolved",
                    field="status",
                )
            done = replace(order, status=OrderStatus.RESOLVED, resolved_at=now, note=text_)
            uow.save_rectification(done)
            uow.commit()
        return done

    def complain(self, number: str, raw: object, *, client: Client) -> Complaint:
        """The applicant complains (投诉) about a case; the handling department answers."""
        body = raw if isinstance(raw, Mapping) else {}
        if not isinstance(raw, Mapping) or set(raw) - {"text"}:
            raise InputError("a complaint is an object {text}", field="text")
        words = text(body.get("text"), field="text", max_length=MAX_COMPLAINT)
        n = case_number(number)
        now = self._clock()
        with self._store.unit_of_work() as uow:
            case = uow.case_for_update(n)
            if case is None or not roles.is_applicant(client, case):
                raise NotFoundError(f"no case {n} of this applicant", field="case_number")
            complaint = Complaint(None, n, case.department, now, words)
            complaint = replace(complaint, id=uow.add_complaint(complaint, client_id=client.id))
            uow.commit()
        return complaint

    def answer(self, complaint_id: int, raw: object, *, client: Client) -> Complaint:
        if not isinstance(raw, Mapping) or set(raw) - {"answer", "substantiated"}:
            raise InputError("an answer is an object {answer, substantiated}", field="answer")
        words = text(raw.get("answer"), field="answer", max_length=MAX_COMPLAINT)
        substantiated = raw.get("substantiated")
        if not isinstance(substantiated, bool):
            raise InputError(
                "is required: true when the complaint was found justified (有效投诉)",
                field="substantiated",
            )
        now = self._clock()
        with self._store.unit_of_work() as uow:
            complaint = uow.complaint_for_update(complaint_id)
            if complaint is None or not (
                client.role in (Role.ADMIN, Role.HALL)
                or (client.role is Role.DEPARTMENT and client.department == complaint.department)
            ):
                raise NotFoundError(f"no complaint {complaint_id} for this client", field="id")
            roles.check_may_answer(client, complaint.department)
            if complaint.answered_at is not None:
                raise IllegalTransitionError(
                    f"complaint {complaint_id} was answered already",
                    field="answer",
                )
            done = replace(
                complaint,
                answer=words,
                answered_at=now,
                answered_by=client.id,
                substantiated=substantiated,
            )
            uow.save_complaint(done)
            uow.commit()
        return done


def _citation(c: CitationIn, check: CitationCheck, now: dt.datetime) -> Citation:
    assert check.identifier is not None and check.licence is not None
    return Citation(
        material=c.material.name,
        identifier=check.identifier,
        licence_type=check.licence.type_code,
        presented=check.presented,
        verdict=check.verdict,
        checked_at=now,
    )


def _reason(value: object, *, required: bool, field: str = "reason") -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError("is required: say why (it is shown to the applicant)", field=field)
        return ""
    return text(value, field=field, max_length=MAX_REASON)


def _decision(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InputError("the decision must be a JSON object", field=None)
    unknown = set(raw) - DECISION_FIELDS
    if unknown:
        raise InputError("is not a field of an approval", field=sorted(unknown)[0])
    out: dict[str, Any] = {}
    if raw.get("licence_number") is not None:
        out["licence_number"] = text(raw["licence_number"], field="licence_number", max_length=64)
    if raw.get("valid_until") is not None:
        value = raw["valid_until"]
        try:
            out["valid_until"] = dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise InputError("must be a date YYYY-MM-DD", field="valid_until") from None
    data = raw.get("data")
    if data is not None:
        if not isinstance(data, Mapping):
            raise InputError("must be an object keyed by the licence's data items", field="data")
        out["data"] = {
            str(k): text(v, field=f"data.{k}", max_length=2000, required=False)
            for k, v in data.items()
        }
    if raw.get("note") is not None:
        out["note"] = _reason(raw["note"], required=False, field="note")
    return out


def _rating(raw: object) -> tuple[int, dict[RatingDimension, int], str]:
    if not isinstance(raw, Mapping):
        raise InputError("a rating is an object {stars, dimensions, comment}", field=None)
    unknown = set(raw) - {"stars", "dimensions", "comment"}
    if unknown:
        raise InputError("is not a field of a rating", field=sorted(unknown)[0])
    stars = _stars(raw.get("stars"), field="stars")
    dims = raw.get("dimensions")
    if not isinstance(dims, Mapping):
        raise InputError(
            f"is required: stars 1-5 for each of {', '.join(RatingDimension)}",
            field="dimensions",
        )
    for key in dims:
        if key not in set(RatingDimension):
            raise InputError("is not a rating dimension", field=f"dimensions.{key}")
    dimensions = {d: _stars(dims.get(str(d)), field=f"dimensions.{d}") for d in RatingDimension}
    comment = _reason(raw.get("comment"), required=False, field="comment")
    return stars, dimensions, comment


def _stars(value: object, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise InputError("must be a whole number of stars from 1 to 5", field=field)
    return value
