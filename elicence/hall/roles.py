"""Who may see and do what with a case. Pure rules over the :class:`Client` a transport gives.

The rules depend only on the client's role, department and holder (never on how it was
authenticated: an API key, or for a holder the web sign-in):

- the **applicant** (a holder client whose holder is the case's applicant) sees its cases,
  hands in supplements for online cases, rates and complains;
- a **department clerk** sees and handles the cases of its own items; another department's case
  is 404 to read and 403 to act on, as for licences;
- a **hall** sees every case, enters window applications and visits, and — for items at depth 2
  or 3, where the seed has the hall accept and answer (主厅统一受理, 统一反馈) — accepts,
  rejects, asks for corrections and completes;
- an **admin** supervises (效能监察): sees everything, answers complaints, follows
  rectification orders; it does not handle cases.

Lists follow the same rules (:func:`case_scope`, :func:`complaint_scope`,
:func:`rectification_scope`): a client lists only what it may read.
"""

from __future__ import annotations

from dataclasses import dataclass

from elicence.domain.clients import Client, Role
from elicence.domain.licence import HolderRef
from elicence.errors import NotFoundError, PermissionDeniedError
from elicence.hall.cases import Case, Channel
from elicence.hall.items import ServiceItem
from elicence.hall.workflow import CaseAction

A = CaseAction
DEPARTMENT_ONLY = frozenset(
    {A.START_REVIEW, A.REQUEST_SUPPLEMENT, A.APPROVE, A.APPROVE_AND_ISSUE, A.REFUSE}
)
HALL_AT_DEPTH = frozenset({A.ACCEPT, A.REJECT, A.REQUEST_CORRECTION, A.COMPLETE})


def is_applicant(client: Client, case: Case) -> bool:
    return client.role is Role.HOLDER and client.holder == case.applicant.ref


def may_read(client: Client, case: Case) -> bool:
    if client.role in (Role.ADMIN, Role.HALL):
        return True
    if client.role is Role.DEPARTMENT:
        return client.department == case.department
    return is_applicant(client, case)


def check_may_read(client: Client, case: Case | None, number: str) -> Case:
    """The case if ``client`` may see it; otherwise 404, whether or not it exists."""
    if case is None or not may_read(client, case):
        raise NotFoundError(f"no case {number} for this client", field="case_number")
    return case


def check_may_act(client: Client, case: Case, action: CaseAction) -> None:
    """Refuse ``action`` on ``case`` by ``client`` (404 if it may not even see the case)."""
    if action is A.SUPPLEMENT:
        if is_applicant(client, case):
            return
        if case.channel is Channel.WINDOW and _handles_window(client, case):
            return
        check_may_read(client, case, case.number)
        raise PermissionDeniedError(
            "only the applicant hands in a supplement (or, for a window case, a clerk for them)",
            code="not_applicant",
        )
    if client.role is Role.DEPARTMENT and client.department == case.department:
        return
    if client.role is Role.HALL and action in HALL_AT_DEPTH and case.item.unified_acceptance:
        return
    if client.role is Role.DEPARTMENT:
        raise PermissionDeniedError(
            f"case {case.number} is handled by {case.department}: only its handling department "
            "may act on it",
            field="case_number",
            code="not_handling_department",
        )
    check_may_read(client, case, case.number)
    if client.role is Role.HALL:
        raise PermissionDeniedError(
            f"a hall may {action} only items at depth 2 or 3 (主厅统一受理/统一反馈); "
            f"this item is at depth {case.item.depth}"
            if action in HALL_AT_DEPTH
            else f"only the handling department may {action} a case",
            code="not_handling_department",
        )
    if client.role is Role.ADMIN:
        raise PermissionDeniedError(
            "admins supervise cases (效能监察); the handling department acts on them"
        )
    raise PermissionDeniedError(f"an applicant may not {action} a case")


def check_may_submit(client: Client, item: ServiceItem) -> Channel:
    """The channel of a new case: online for a holder, window for a hall or the item's clerk."""
    if client.role is Role.HOLDER:
        return Channel.ONLINE
    if client.role is Role.HALL or (
        client.role is Role.DEPARTMENT and client.department == item.department
    ):
        return Channel.WINDOW
    if client.role is Role.DEPARTMENT:
        raise PermissionDeniedError(
            f"item {item.code} is handled by {item.department}: a clerk enters window "
            "applications for its own department's items only",
            field="item_code",
            code="not_handling_department",
        )
    raise PermissionDeniedError("admins supervise; applicants, halls and clerks apply")


def check_may_record_visit(client: Client, case: Case) -> None:
    if client.role is Role.HALL:
        return
    if client.role is Role.DEPARTMENT and client.department == case.department:
        return
    if client.role is not Role.DEPARTMENT:
        check_may_read(client, case, case.number)
    raise PermissionDeniedError(
        "on-site visits are recorded by the hall or the handling department",
        code="not_handling_department",
    )


def check_may_answer(client: Client, department: str) -> None:
    """Complaints are answered by the handling department or by a supervisor (admin)."""
    if client.role is Role.ADMIN:
        return
    if client.role is Role.DEPARTMENT and client.department == department:
        return
    raise PermissionDeniedError(
        "a complaint is answered by the handling department or a supervisor",
        code="not_handling_department",
    )


def _handles_window(client: Client, case: Case) -> bool:
    return client.role is Role.HALL or (
        client.role is Role.DEPARTMENT and client.department == case.department
    )


# -- what a listing shows --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """What a list of cases, complaints or work orders is limited to for a client."""

    department: str | None = None  # only this department's (None: any)
    applicant: HolderRef | None = None  # only this applicant's (None: any)
    empty: bool = False  # nothing at all (the client may see none of them)


NOTHING = Scope(empty=True)


def case_scope(client: Client, *, department: str | None = None) -> Scope:
    """The cases ``client`` may list, within ``department`` if it asks for one: a holder its
    own, a clerk its department's (another department's: none), the hall and admins all."""
    if client.role is Role.HOLDER:
        return Scope(applicant=client.holder) if client.holder is not None else NOTHING
    if client.role is Role.DEPARTMENT:
        if client.department is None or (department not in (None, client.department)):
            return NOTHING  # another department's cases: none of them are this clerk's
        return Scope(department=client.department)
    return Scope(department=department)


def complaint_scope(client: Client) -> Scope:
    """The complaints ``client`` may list: a holder those about its cases, a clerk those about
    its department's, the hall and admins all."""
    if client.role is Role.HOLDER:
        return Scope(applicant=client.holder) if client.holder is not None else NOTHING
    if client.role is Role.DEPARTMENT:
        return Scope(department=client.department) if client.department else NOTHING
    return Scope()


def rectification_scope(client: Client) -> Scope:
    """The rectification work orders ``client`` may list: a clerk its department's, an admin
    (supervision) all; no one else (403)."""
    if client.role is Role.ADMIN:
        return Scope()
    if client.role is Role.DEPARTMENT:
        return Scope(department=client.department) if client.department else NOTHING
    raise PermissionDeniedError(
        "rectification orders are for the handling department and supervisors"
    )
