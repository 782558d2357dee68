"""A case's life after submission, but for approval: the clerk's and the hall's steps (accept,
reject, ask for corrections or a supplement, start the review, refuse, complete), on-site
visits, and reading a case, its timeline and its uploads.

Invariants: who may see and do what is decided by ``roles`` (a case a client may not see is
404, whether or not it exists); every step is one transition of the workflow's table, stored
with its event in one transaction; the deadline is set at acceptance, in working days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from elicence.domain.clients import Client
from elicence.domain.licence import china_today
from elicence.errors import ConflictError, InputError, NotFoundError
from elicence.hall import roles
from elicence.hall.application import reason as check_reason
from elicence.hall.cases import Case, CaseEvent, Upload
from elicence.hall.numbers import case_number
from elicence.hall.ports import Seams
from elicence.hall.workflow import NEEDS_REASON, CaseAction, CaseStatus, next_status

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


class Steps:
    """Read a case; take a step of the workflow; count a visit."""

    def __init__(self, seams: Seams) -> None:
        self._s = seams

    # -- reading --------------------------------------------------------------------------------

    def case_for(self, client: Client, number: str) -> Case:
        n = case_number(number)
        return roles.check_may_read(client, self._s.store.case(n), n)

    def timeline(self, client: Client, number: str) -> tuple[Case, list[CaseEvent]]:
        case = self.case_for(client, number)
        return case, self._s.store.events(case.number)

    def upload(self, client: Client, number: str, material: str) -> tuple[Upload, bytes]:
        case = self.case_for(client, number)
        found = self._s.store.upload(case.number, material)
        if found is None:
            raise NotFoundError(f"case {case.number} has no upload {material!r}", field="material")
        return found

    def today(self) -> dt.date:
        return china_today(self._s.clock())

    # -- the workflow ---------------------------------------------------------------------------

    def act(
        self, number: str, action: CaseAction, *, client: Client, reason: str | None = None
    ) -> Case:
        """A clerk's or the hall's step: accept, reject, ask for corrections or a supplement,
        start the review, refuse, complete."""
        s = self._s
        if action not in SIMPLE_ACTIONS:
            raise InputError(f"{action} is not one of these steps", field="action")
        why = check_reason(reason, required=action in NEEDS_REASON)
        n = case_number(number)
        now = s.clock()
        today = china_today(now)
        with s.store.unit_of_work() as uow:
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
                    due_on=s.calendar.add_working_days(today, case.item.promised_days),
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

    def record_visit(self, number: str, *, client: Client, note: str | None = None) -> Case:
        """An on-site visit (到现场) of the applicant for this case, counted for 三率一数."""
        s = self._s
        n = case_number(number)
        why = check_reason(note, required=False)
        now = s.clock()
        with s.store.unit_of_work() as uow:
            case = uow.case_for_update(n)
            if case is None:
                raise NotFoundError(f"no case {n} for this client", field="case_number")
            roles.check_may_record_visit(client, case)
            if case.final:
                raise ConflictError(
                    f"case {n} is {case.status} ({case.status.label_zh}): no more visits are "
                    "counted for it",
                    field="status",
                    code="illegal_transition",
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
