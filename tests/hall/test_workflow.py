"""The case workflow's transition table: what it allows, and what it refuses with a reason."""

from __future__ import annotations

import pytest

from elicence.errors import IllegalTransitionError
from elicence.hall.workflow import (
    FINAL,
    TRANSITIONS,
    CaseAction,
    CaseStatus,
    allowed_actions,
    next_status,
)

S, A = CaseStatus, CaseAction


def test_the_happy_path_of_an_item_that_issues_a_licence() -> None:
    status = S.SUBMITTED
    for action in (A.ACCEPT, A.START_REVIEW, A.APPROVE_AND_ISSUE, A.LICENCE_ISSUED, A.COMPLETE):
        status = next_status("N", status, action)
    assert status is S.COMPLETED


def test_a_supplement_returns_to_where_it_was_asked() -> None:
    assert next_status("N", S.UNDER_REVIEW, A.REQUEST_SUPPLEMENT) is S.AWAITING_SUPPLEMENT
    assert next_status("N", S.AWAITING_SUPPLEMENT, A.SUPPLEMENT) is S.UNDER_REVIEW
    assert next_status("N", S.SUBMITTED, A.REQUEST_CORRECTION) is S.AWAITING_CORRECTION
    assert next_status("N", S.AWAITING_CORRECTION, A.SUPPLEMENT) is S.SUBMITTED


def test_an_interrupted_approval_may_resume_but_nothing_else_leaves_issuing() -> None:
    assert next_status("N", S.ISSUING, A.APPROVE_AND_ISSUE) is S.ISSUING
    assert set(allowed_actions(S.ISSUING)) == {A.APPROVE_AND_ISSUE, A.LICENCE_ISSUED}


@pytest.mark.parametrize("status", sorted(FINAL), ids=str)
def test_final_statuses_allow_nothing(status: CaseStatus) -> None:
    assert allowed_actions(status) == []
    for action in A:
        with pytest.raises(IllegalTransitionError, match="final"):
            next_status("N", status, action)


ILLEGAL = [(s, a) for s in S for a in A if (s, a) not in TRANSITIONS and s not in FINAL]


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=[f"{s}-{a}" for s, a in ILLEGAL])
def test_every_other_pair_is_refused_saying_what_is_allowed(
    status: CaseStatus, action: CaseAction
) -> None:
    with pytest.raises(IllegalTransitionError) as e:
        next_status("440106261128LB53319BA", status, action)
    assert e.value.code == "illegal_transition" and e.value.field == "status"
    assert f"is {status}" in e.value.message and f"{action} is allowed only when" in e.value.message


def test_every_status_is_reachable_from_submitted() -> None:
    seen, todo = {S.SUBMITTED}, [S.SUBMITTED]
    while todo:
        s = todo.pop()
        for (frm, _a), to in TRANSITIONS.items():
            if frm is s and to not in seen:
                seen.add(to)
                todo.append(to)
    assert seen == set(S)
