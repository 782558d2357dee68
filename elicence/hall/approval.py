"""Approval (准予): a case under review is approved, and an item that issues a licence issues it
now, through the issuer, linked to the case.

Invariants:
- an approval issues at most one licence per case, whatever is retried or interrupted: the case
  enters ``issuing`` with its licence's checked draft stored before the issuer is called, and the
  issuer is idempotent by ``source_ref`` = the case number;
- every cited e-licence is verified again before a case under review is approved, each check
  recorded (``citing``);
- the use case owns each transaction: the store's unit of work only executes; one commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from elicence.domain.catalogue import Catalogue
from elicence.domain.clients import Client
from elicence.domain.inputs import form_text
from elicence.domain.licence import DraftFields, Holder, LicenceDraft, Verdict, china_today
from elicence.errors import ConflictError, InputError, NotFoundError
from elicence.hall import roles
from elicence.hall.application import CitationIn, reason
from elicence.hall.cases import Applicant, Case, CaseEvent, Citation
from elicence.hall.citing import cited_licence_error, record, record_in
from elicence.hall.numbers import case_number
from elicence.hall.ports import (
    CaseUnitOfWork,
    CitationCheck,
    CitationRequest,
    IssuedLicence,
    Seams,
)
from elicence.hall.workflow import CaseAction, CaseStatus, next_status

A, S = CaseAction, CaseStatus
DECISION_FIELDS = frozenset({"licence_number", "valid_until", "data", "note"})
# An approval's draft is named as its decision is: licence_number, valid_until, data.<item>.
DECISION_NAMES = DraftFields()


@dataclass(frozen=True, slots=True)
class Decision:
    """An approval's decision (准予), checked: what it sets of the licence, and a note."""

    licence_number: str | None = None  # None: the issuer numbers the licence
    valid_until: dt.date | None = None  # None: the licence type's validity rule
    data: Mapping[str, str] = field(default_factory=dict)  # over the form's values
    note: str = ""


@dataclass(frozen=True, slots=True)
class Approval:
    case: Case
    licence: str | None  # the licence issued (or found issued) for the case
    created: bool  # False: a retry, answered with the licence issued before


class Approving:
    """Approve a case, issuing the item's licence."""

    def __init__(self, seams: Seams) -> None:
        self._s = seams

    def approve(self, number: str, raw: Mapping[str, Any] | None, *, client: Client) -> Approval:
        """Approve a case under review. An item that issues a licence issues it now, through
        the issuer, idempotently (``source_ref`` = the case number), and links it to the case.

        1. the case may be approved by this client, from its status (nothing written if not);
        2. from review: every cited e-licence is verified again (each check recorded: with the
           transaction of 4., or on its own if the approval stops before it commits);
        3. the licence's draft is built and checked by the issuer, which numbers it (nothing
           written if it would not issue);
        4. the case enters ``issuing`` with that checked draft and the re-checks' usage records
           stored (one transaction);
        5. the issuer issues it (or answers the licence already issued under the case number);
        6. the case becomes ``approved``, linked to the licence (one transaction).
        A retry after 5 or 6 failed resumes at 5 with the stored draft: one licence, ever.
        """
        s = self._s
        decision = _decision(raw)
        n = case_number(number)
        now = s.clock()
        today = china_today(now)
        rechecks: list[tuple[CitationIn | Citation, CitationCheck]] = []
        # the re-checks' usage records: written in the transaction that approves (or moves the
        # case to issuing) and emptied once it committed; if it did not, written when the
        # block ends, on their own (after the case's transaction, not waiting on its lock)
        with (
            self._recording(rechecks, client=client, number=n, now=now),
            s.store.unit_of_work() as uow,
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
                    reason=decision.note or case.reason,
                    version=case.version + 1,
                )
                uow.save_case(approved, [CaseEvent(n, now, action, case.status, after, client.id)])
                _commit_with(uow, rechecks, client=client, number=n, now=now)
                return Approval(approved, None, False)
            # 3.
            if case.status is S.ISSUING and case.issuance is not None:
                draft = case.issuance  # an interrupted approval resumes
                pending = case
            else:
                draft = s.issuer.check(
                    licence_draft(
                        s.licences(),
                        number=n,
                        item_issues=issues,
                        applicant=case.applicant,
                        form=case.form,
                        today=today,
                        decision=decision,
                    ),
                    department=case.department,
                    names=DECISION_NAMES,
                )
                # 4.
                pending = replace(
                    case,
                    status=after,
                    issuance=draft,
                    citations=rechecked,
                    version=case.version + 1,
                )
                event = CaseEvent(
                    n, now, action, case.status, after, client.id, {"licence_type": issues}
                )
                uow.save_case(pending, [event])
                _commit_with(uow, rechecks, client=client, number=n, now=now)
        # 5.
        try:
            issued = s.issuer.issue(draft, department=case.department, actor=client.id)
        except ConflictError as e:
            if e.code != "source_ref_conflict":
                raise
            found = s.issuer.find(department=case.department, source_ref=n)
            if found is None:  # pragma: no cover - the issuer said it holds one
                raise
            issued = IssuedLicence(found, created=False)
        # 6. (optimistic: the case as step 4 left it, unless a concurrent approval moved it)
        with s.store.unit_of_work() as uow:
            current = pending
            approved = _linked(current, issued, decision, now)
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
                current = _locked(uow, n)
                if current.status is S.APPROVED and current.licence == issued.identifier:
                    return Approval(current, issued.identifier, False)  # a twin finished
                approved = _linked(current, issued, decision, now)
                event = replace(event, from_status=current.status)
                uow.save_case(approved, [event])
            uow.commit()
        return Approval(approved, issued.identifier, issued.created)

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
                record(self._s, checks, client=client, number=number, now=now)

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
        checks = self._s.citations.check(
            [CitationRequest(None, c.identifier) for c in case.citations]
        )
        done = list(zip(case.citations, checks, strict=True))
        into.extend(done)
        for i, (_c, check) in enumerate(done):
            if check.verdict is not Verdict.VALID:
                raise cited_licence_error(check, field=f"citations[{i}]", at_approval=True)
        return [replace(c, verdict=check.verdict, checked_at=now) for c, check in done]


def _commit_with(
    uow: CaseUnitOfWork,
    rechecks: list[tuple[CitationIn | Citation, CitationCheck]],
    *,
    client: Client,
    number: str,
    now: dt.datetime,
) -> None:
    """Commit the step with the re-checks' usage records; once committed they are done (the
    list emptied: :meth:`Approving._recording` writes only what no commit carried)."""
    record_in(uow, rechecks, client=client, number=number, now=now)
    uow.commit()
    rechecks.clear()


def _linked(case: Case, issued: IssuedLicence, decision: Decision, now: dt.datetime) -> Case:
    after = next_status(case.number, case.status, A.LICENCE_ISSUED)
    return replace(
        case,
        status=after,
        licence=issued.identifier,
        decided_at=now,
        reason=decision.note or case.reason,
        version=case.version + 1,
    )


def _locked(uow: CaseUnitOfWork, number: str) -> Case:
    case = uow.case_for_update(number)
    if case is None:  # pragma: no cover - cases are never deleted
        raise NotFoundError(f"no case {number}", field="case_number")
    return case


def licence_draft(
    licences: Catalogue,
    *,
    number: str,
    item_issues: str,
    applicant: Applicant,
    form: Mapping[str, str],
    today: dt.date,
    decision: Decision,
) -> LicenceDraft:
    """The licence an approval issues: the applicant as holder, the form's values of the type's
    data items (the decision's ``data`` over them), valid from today, ``source_ref`` = the case
    number; its number and last day the decision's, or else the issuer's and the type's."""
    lt = licences.licence_type(item_issues)
    data = {d.name: form[d.name] for d in lt.data_items if d.name in form}
    data.update(decision.data)
    return LicenceDraft(
        source_ref=number,
        type_code=item_issues,
        holder=Holder(applicant.name, applicant.ref.id_type, applicant.ref.id_number),
        valid_from=today,
        licence_number=decision.licence_number,
        valid_until=decision.valid_until,
        data=data,
    )


def _decision(raw: Mapping[str, Any] | None) -> Decision:
    if raw is None:
        return Decision()
    if not isinstance(raw, Mapping):
        raise InputError("the decision must be a JSON object", field=None)
    unknown = set(raw) - DECISION_FIELDS
    if unknown:
        raise InputError("is not a field of an approval", field=sorted(unknown)[0])
    number = None
    if raw.get("licence_number") is not None:
        number = form_text(raw["licence_number"], field="licence_number", max_length=64)
    valid_until = None
    if raw.get("valid_until") is not None:
        try:
            valid_until = dt.date.fromisoformat(str(raw["valid_until"]))
        except ValueError:
            raise InputError("must be a date YYYY-MM-DD", field="valid_until") from None
    data = raw.get("data")
    values: dict[str, str] = {}
    if data is not None:
        if not isinstance(data, Mapping):
            raise InputError("must be an object keyed by the licence's data items", field="data")
        values = {
            str(k): form_text(v, field=f"data.{k}", max_length=2000, required=False)
            for k, v in data.items()
        }
    note = ""
    if raw.get("note") is not None:
        note = reason(raw["note"], required=False, field="note")
    return Decision(number, valid_until, values, note)
