"""Applying (网上申办, 窗口受理) and handing in a supplement (补正), each citing e-licences
instead of paper originals.

Invariants:
- a case is stored whole (case, uploads, first event, the usage records of its citations) in
  one transaction after every field, upload and cited e-licence passed, or not at all; a
  scenario bundle's cases (一条龙) are all stored in one transaction after every application
  passed, or none is;
- every cited e-licence is verified at submission and at each supplement (``citing``);
- an application for an item that issues a licence is refused at once if approval could not
  issue it (the issuer checks the licence the form would give);
- the use case owns each transaction: the store's unit of work only executes; one commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from elicence.domain.clients import Client
from elicence.domain.licence import DraftFields, HolderRef, china_today
from elicence.errors import (
    ConflictError,
    Error,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from elicence.hall import roles
from elicence.hall.application import (
    SUPPLEMENT_FIELDS,
    CheckedApplication,
    CitationIn,
    applicant_of,
    check_application,
    check_citations,
    check_form,
    check_reuse,
    check_uploads,
    reason,
)
from elicence.hall.approval import Decision, licence_draft
from elicence.hall.cases import Applicant, Case, CaseEvent, Channel, Upload, UploadIn
from elicence.hall.citing import citation_of, record, record_in, verify
from elicence.hall.items import ServiceItem
from elicence.hall.numbers import case_number, new_case_number
from elicence.hall.ports import CitationCheck, Seams
from elicence.hall.workflow import CaseAction, CaseStatus, next_status

A, S = CaseAction, CaseStatus
# The licence an application would give is checked with its parts named as the application
# names them: the holder is the applicant, the data items are form fields.
APPLICATION_NAMES = DraftFields(holder="applicant", data="form")


MAX_BUNDLE = 20  # applications in one scenario bundle


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One application checked whole, its e-licences verified: ready to store as a case."""

    app: CheckedApplication
    item_version: int
    division: str
    checks: list[tuple[CitationIn, CitationCheck]]
    stored: list[tuple[Upload, bytes]]
    now: dt.datetime

    def case(self, number: str, client: Client) -> Case:
        app = self.app
        return Case(
            number=number,
            item=app.item,
            division=self.division,
            applicant=app.applicant,
            channel=app.channel,
            status=S.SUBMITTED,
            submitted_at=self.now,
            form=app.form,
            citations=tuple(citation_of(c, chk, self.now) for c, chk in self.checks),
            uploads=tuple(u for u, _ in self.stored),
            applicant_client=client.id,
            item_version=self.item_version,
        )


class Submission:
    """Apply for a service item; hand in what a correction or supplement request asked."""

    def __init__(self, seams: Seams) -> None:
        self._s = seams

    def submit(
        self, raw: Mapping[str, Any], uploads: Sequence[UploadIn], *, client: Client
    ) -> Case:
        """Check and store a new case; every cited e-licence is verified first."""
        return self._store([self._prepare(raw, uploads, client=client)], client=client)[0]

    def submit_many(
        self,
        applications: Sequence[tuple[Mapping[str, Any], Sequence[UploadIn]]],
        *,
        client: Client,
    ) -> list[Case]:
        """A scenario bundle's applications (一条龙), one case per application, all or none:
        every application is checked (and its cited e-licences verified) before any is stored,
        then every case is stored in one transaction. A refused application's error names its
        field as ``items[i].<field>`` (``i`` its place in ``applications``)."""
        if not applications:
            raise InputError("is empty: apply for at least one item", field="items")
        if len(applications) > MAX_BUNDLE:
            raise InputError(
                f"has {len(applications)} applications, at most {MAX_BUNDLE}", field="items"
            )
        prepared = []
        for i, (raw, uploads) in enumerate(applications):
            try:
                prepared.append(self._prepare(raw, uploads, client=client))
            except Error as e:
                for done in prepared:  # verified, but no case: recorded without one
                    record(self._s, done.checks, client=client, number=None, now=done.now)
                e.field = f"items[{i}]" + (f".{e.field}" if e.field else "")
                raise
        return self._store(prepared, client=client)

    def _prepare(
        self, raw: Mapping[str, Any], uploads: Sequence[UploadIn], *, client: Client
    ) -> _Prepared:
        """Check one application whole and verify its cited e-licences; nothing stored."""
        s = self._s
        if not isinstance(raw, Mapping):
            raise InputError("the application must be a JSON object", field=None)
        code = raw.get("item_code")
        if not isinstance(code, str):
            raise InputError("is required: the code of a service item", field="item_code")
        item_version, catalogue = s.items()
        item = catalogue.item(code)
        channel = roles.check_may_submit(client, item)
        if raw.get("reuse") is not None:
            if channel is not Channel.ONLINE:
                raise PermissionDeniedError(
                    "only the applicant, applying online, reuses its earlier uploads",
                    field="reuse",
                )
            applicant = applicant_of(raw, client=client, channel=channel, item=item)
            uploads = [*uploads, *self._reused(raw.get("reuse"), item, applicant.ref)]
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
        return _Prepared(app, item_version, division, checks, stored, now)

    def _store(self, prepared: Sequence[_Prepared], *, client: Client) -> list[Case]:
        """Store the checked applications' cases in one transaction (a case number drawn twice,
        about 1 in 2**41 a day, draws every number again)."""
        s = self._s
        for _attempt in range(3):
            cases = [
                p.case(new_case_number(p.division, china_today(p.now)), client) for p in prepared
            ]
            try:
                with s.store.unit_of_work() as uow:
                    uow.enrol(client, prepared[0].now)  # a web holder's row: with its first case
                    for p, case in zip(prepared, cases, strict=True):
                        event = CaseEvent(
                            case.number, p.now, "submit", None, S.SUBMITTED, client.id
                        )
                        uow.add_case(case, p.stored, event)
                        record_in(uow, p.checks, client=client, number=case.number, now=p.now)
                    uow.commit()  # the cases, their events and their citations' usage records
            except ConflictError:
                continue
            return cases
        raise ConflictError("could not draw a free case number; retry")  # pragma: no cover

    def _reused(self, raw: object, item: ServiceItem, holder: HolderRef) -> list[UploadIn]:
        """The earlier uploads an application reuses, read from the applicant's own stored
        files by SHA-256 (another holder's never: the store looks in this holder's only). They
        are checked as any upload is, and stored again as references to the same bytes."""
        out = []
        for r in check_reuse(raw, item):
            found = self._s.store.stored_upload(holder, r.sha256)
            if found is None:
                raise NotFoundError(
                    "no earlier upload of this applicant has this SHA-256",
                    field=f"reuse[{r.index}].sha256",
                )
            earlier, content = found
            out.append(UploadIn(r.material.name, earlier.filename, earlier.content_type, content))
        return out

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
        if raw.get("reuse") is not None:
            if client.holder != case.applicant.ref:
                raise PermissionDeniedError(
                    "only the applicant reuses its earlier uploads", field="reuse"
                )
            uploads = [*uploads, *self._reused(raw.get("reuse"), case.item, case.applicant.ref)]
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
