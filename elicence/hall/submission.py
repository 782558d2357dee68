"""Applying (网上申办, 窗口受理) and handing in a supplement (补正), each citing e-licences
instead of paper originals.

Invariants:
- a case is stored whole (case, uploads, first event, the usage records of its citations) in
  one transaction after every field, upload and cited e-licence passed, or not at all;
- every cited e-licence is verified at submission and at each supplement (``citing``);
- an application for an item that issues a licence is refused at once if approval could not
  issue it (the issuer checks the licence the form would give);
- the use case owns each transaction: the store's unit of work only executes; one commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from elicence.domain.clients import Client
from elicence.domain.licence import DraftFields, china_today
from elicence.errors import ConflictError, InputError, NotFoundError
from elicence.hall import roles
from elicence.hall.application import (
    SUPPLEMENT_FIELDS,
    check_application,
    check_citations,
    check_form,
    check_uploads,
    reason,
)
from elicence.hall.approval import Decision, licence_draft
from elicence.hall.cases import Applicant, Case, CaseEvent, Upload, UploadIn
from elicence.hall.citing import citation_of, record_in, verify
from elicence.hall.numbers import case_number, new_case_number
from elicence.hall.ports import Seams
from elicence.hall.workflow import CaseAction, CaseStatus, next_status

A, S = CaseAction, CaseStatus
# The licence an application would give is checked with its parts named as the application
# names them: the holder is the applicant, the data items are form fields.
APPLICATION_NAMES = DraftFields(holder="applicant", data="form")


class Submission:
    """Apply for a service item; hand in what a correction or supplement request asked."""

    def __init__(self, seams: Seams) -> None:
        self._s = seams

    def submit(
        self, raw: Mapping[str, Any], uploads: Sequence[UploadIn], *, client: Client
    ) -> Case:
        """Check and store a new case; every cited e-licence is verified first."""
        s = self._s
        if not isinstance(raw, Mapping):
            raise InputError("the application must be a JSON object", field=None)
        code = raw.get("item_code")
        if not isinstance(code, str):
            raise InputError("is required: the code of a service item", field="item_code")
        item_version, catalogue = s.items()
        item = catalogue.item(code)
        channel = roles.check_may_submit(client, item)
        app = check_application(raw, item=item, client=client, channel=channel, uploads=uploads)
        if not app.applicant.name:
            app = replace(app, applicant=self._registered(app.applicant))
        now = s.clock()
        if item.issues is not None:  # refuse now what approval could not issue
            provisional = licence_draft(
                s.licences(),
                number="PROVISIONAL",
                item_issues=item.issues,
                applicant=app.applicant,
                form=app.form,
                today=china_today(now),
                decision=Decision(),
            )
            s.issuer.check(provisional, department=item.department, names=APPLICATION_NAMES)
        checks = verify(s, app.citations, app.applicant.ref, client=client, now=now)
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
                citations=tuple(citation_of(c, chk, now) for c, chk in checks),
                uploads=tuple(u for u, _ in stored),
                applicant_client=client.id,
                item_version=item_version,
            )
            event = CaseEvent(number, now, "submit", None, S.SUBMITTED, client.id)
            try:
                with s.store.unit_of_work() as uow:
                    uow.add_case(case, stored, event)
                    record_in(uow, checks, client=client, number=number, now=now)
                    uow.commit()  # the case, its event and its citations' usage records
            except ConflictError:
                continue  # a case number drawn twice (about 1 in 2**41 a day): draw again
            return case
        raise ConflictError("could not draw a free case number; retry")  # pragma: no cover

    def _registered(self, applicant: Applicant) -> Applicant:
        """An online applicant that gave no name and did not sign in with an identity: named as
        the registry's licences of the holder name it (已登记的信息), never by its API key."""
        name = self._s.store.registered_name(applicant.ref)
        if name is None:
            raise InputError(
                "is required: the applicant's name (no licence in force of this holder is on "
                "record to take it from)",
                field="applicant.name",
            )
        return replace(applicant, name=name)

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
        s = self._s
        if not isinstance(raw, Mapping):
            raise InputError("the supplement must be a JSON object", field=None)
        unknown = set(raw) - SUPPLEMENT_FIELDS
        if unknown:
            raise InputError("is not a field of a supplement", field=sorted(unknown)[0])
        n = case_number(number)
        case = s.store.case(n)
        if case is None:
            raise NotFoundError(f"no case {n} for this client", field="case_number")
        roles.check_may_act(client, case, A.SUPPLEMENT)
        next_status(n, case.status, A.SUPPLEMENT)  # fail fast: nothing verified, nothing written
        form = check_form(raw.get("form"), case.item, partial=True)
        cited = check_citations(raw.get("licences"), case.item, partial=True)
        checked = check_uploads(uploads, case.item, partial=True)
        note = reason(raw.get("note"), required=False)
        now = s.clock()
        today = china_today(now)
        checks = verify(s, cited, case.applicant.ref, client=client, now=now, number=n)
        stored = [(Upload.of(up, filename=name, at=now), up.content) for up, name in checked]
        with s.store.unit_of_work() as uow:
            locked = uow.case_for_update(n)
            assert locked is not None  # cases are never deleted
            after = next_status(n, locked.status, A.SUPPLEMENT)
            new_citations = {c.material: c for c in locked.citations}
            new_citations.update({c.material.name: citation_of(c, k, now) for c, k in checks})
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
                paused = s.calendar.working_days_between(locked.paused_since, today)
                assert locked.due_on is not None
                changed = replace(
                    changed,
                    paused_since=None,
                    paused_days=locked.paused_days + paused,
                    due_on=s.calendar.add_working_days(locked.due_on, paused)
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
            record_in(uow, checks, client=client, number=n, now=now)
            uow.commit()
        return changed
