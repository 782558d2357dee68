"""After the case (事后评议, 结果反馈): progress and result by case number, ratings (好差评)
and the rectification work orders a bad one opens, complaints (投诉) and their answers.

Invariants: progress answers an unknown number and a wrong applicant id alike (no oracle for
either); a case is rated once, by its applicant, once it is finished; a rating of 1 or 2 stars
opens one work order, due in ``rectify_days`` working days; a complaint is answered once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from elicence.domain.clients import Client, Role
from elicence.domain.inputs import form_text
from elicence.domain.licence import HolderRef, china_today
from elicence.errors import (
    ConflictError,
    IllegalTransitionError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from elicence.hall import roles
from elicence.hall.application import reason
from elicence.hall.cases import (
    RECTIFY_BELOW,
    Case,
    CaseEvent,
    Complaint,
    OrderStatus,
    Rating,
    RatingDimension,
    Rectification,
)
from elicence.hall.numbers import case_number
from elicence.hall.ports import Seams

MAX_COMMENT = 500
MAX_COMPLAINT = 1000


@dataclass(frozen=True, slots=True)
class Progress:
    case: Case
    events: list[CaseEvent]
    overdue: bool


class Feedback:
    """Progress for the applicant; ratings, rectification and complaints."""

    def __init__(self, seams: Seams) -> None:
        self._s = seams

    def progress(self, number: str, holder: HolderRef) -> Progress:
        """Progress and result for whoever knows the case number and the applicant's id.

        An unknown number and a wrong holder get the same answer (no oracle for either)."""
        s = self._s
        n = case_number(number)
        case = s.store.case(n)
        if case is None or case.applicant.ref != holder:
            raise NotFoundError("no case with this number for this applicant", field="case_number")
        today = china_today(s.clock())
        return Progress(case, s.store.events(n), case.overdue(today))

    def rate(
        self, number: str, raw: Mapping[str, Any], *, client: Client
    ) -> tuple[Rating, Rectification | None]:
        """The applicant rates a finished case (好差评), once; 1 or 2 stars open a work order."""
        s = self._s
        stars, dimensions, comment = _rating(raw)
        n = case_number(number)
        now = s.clock()
        with s.store.unit_of_work() as uow:
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
                    s.calendar.add_working_days(china_today(now), s.rectify_days),
                )
                order = replace(order, id=uow.add_rectification(order))
            uow.commit()
        return rating, order

    def resolve_rectification(
        self, order_id: int, note: object, *, client: Client
    ) -> Rectification:
        text_ = reason(note, required=True, field="note")
        now = self._s.clock()
        with self._s.store.unit_of_work() as uow:
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
        words = form_text(body.get("text"), field="text", max_length=MAX_COMPLAINT)
        n = case_number(number)
        now = self._s.clock()
        with self._s.store.unit_of_work() as uow:
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
        words = form_text(raw.get("answer"), field="answer", max_length=MAX_COMPLAINT)
        substantiated = raw.get("substantiated")
        if not isinstance(substantiated, bool):
            raise InputError(
                "is required: true when the complaint was found justified (有效投诉)",
                field="substantiated",
            )
        now = self._s.clock()
        with self._s.store.unit_of_work() as uow:
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
    comment = reason(raw.get("comment"), required=False, field="comment")
    return stars, dimensions, comment


def _stars(value: object, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise InputError("must be a whole number of stars from 1 to 5", field=field)
    return value
