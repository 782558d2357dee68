"""The workflow of a case (办件流程): one explicit transition table, as ``issuer/lifecycle.py``.

:data:`TRANSITIONS` maps (status, action) to the next status; anything not in it is refused
with the reason (:class:`~elicence.errors.IllegalTransitionError`, HTTP 409). The diagram is in
``docs/hall.md``::

    submitted ──accept──▶ accepted ──start_review──▶ under_review ──approve──▶ approved ─┐
      │  ▲ │                                          │  ▲    │                          │
      │  │ └─reject──▶ rejected (不予受理, final)      │  │    ├─approve (issues)─▶ issuing
      │  └─supplement── awaiting_correction           │  │    │      └─licence_issued─▶ approved
      └─request_correction─▶ (受理前补正)               │  │    └─refuse──▶ refused ──────┤
                                 request_supplement ──┘  └─supplement── awaiting_supplement
                                 (审查中补正: the clock stops)                            │
                                                                  complete ◀──────────────┘
                                                                     ▼
                                                                 completed (办结, final)

Invariants: ``rejected`` and ``completed`` are final; a licence is issued only from
``issuing``, which the case enters (once, with its licence's checked draft stored) before the
issuer is called, so that a retried or interrupted approval issues the same licence again, never
a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from elicence.errors import IllegalTransitionError


class CaseStatus(StrEnum):
    SUBMITTED = "submitted"  # 已提交，待受理
    AWAITING_CORRECTION = "awaiting_correction"  # 受理前补正：材料不齐，一次性告知
    ACCEPTED = "accepted"  # 已受理：承诺时限起算
    REJECTED = "rejected"  # 不予受理 (final)
    UNDER_REVIEW = "under_review"  # 审查中
    AWAITING_SUPPLEMENT = "awaiting_supplement"  # 审查中补正：计时暂停
    ISSUING = "issuing"  # 准予许可，制证中
    APPROVED = "approved"  # 准予许可 / 准予办理
    REFUSED = "refused"  # 不予许可 / 不予办理
    COMPLETED = "completed"  # 办结 (final)

    @property
    def label_zh(self) -> str:
        return LABELS[self]


LABELS = {
    CaseStatus.SUBMITTED: "已提交（待受理）",
    CaseStatus.AWAITING_CORRECTION: "待补正（受理前）",
    CaseStatus.ACCEPTED: "已受理",
    CaseStatus.REJECTED: "不予受理",
    CaseStatus.UNDER_REVIEW: "审查中",
    CaseStatus.AWAITING_SUPPLEMENT: "补正中（计时暂停）",
    CaseStatus.ISSUING: "准予许可，制证中",
    CaseStatus.APPROVED: "准予许可",
    CaseStatus.REFUSED: "不予许可",
    CaseStatus.COMPLETED: "办结",
}


class CaseAction(StrEnum):
    ACCEPT = "accept"  # 受理
    REJECT = "reject"  # 不予受理 (with a reason)
    REQUEST_CORRECTION = "request_correction"  # 受理前补正告知 (with a reason)
    START_REVIEW = "start_review"  # 审查
    REQUEST_SUPPLEMENT = "request_supplement"  # 审查中补正告知 (with a reason): the clock stops
    SUPPLEMENT = "supplement"  # the applicant hands in what was asked
    APPROVE = "approve"  # 准予 (an item that issues nothing)
    APPROVE_AND_ISSUE = "approve_and_issue"  # 准予, and issue the item's licence
    LICENCE_ISSUED = "licence_issued"  # the licence is issued and linked
    REFUSE = "refuse"  # 不予许可 (with a reason)
    COMPLETE = "complete"  # 办结: the result is delivered


S = CaseStatus
A = CaseAction

# (status, action) -> the status afterwards.
TRANSITIONS: Mapping[tuple[CaseStatus, CaseAction], CaseStatus] = {
    (S.SUBMITTED, A.ACCEPT): S.ACCEPTED,
    (S.SUBMITTED, A.REJECT): S.REJECTED,
    (S.SUBMITTED, A.REQUEST_CORRECTION): S.AWAITING_CORRECTION,
    (S.AWAITING_CORRECTION, A.SUPPLEMENT): S.SUBMITTED,
    (S.AWAITING_CORRECTION, A.REJECT): S.REJECTED,
    (S.ACCEPTED, A.START_REVIEW): S.UNDER_REVIEW,
    (S.UNDER_REVIEW, A.REQUEST_SUPPLEMENT): S.AWAITING_SUPPLEMENT,
    (S.AWAITING_SUPPLEMENT, A.SUPPLEMENT): S.UNDER_REVIEW,
    (S.UNDER_REVIEW, A.APPROVE): S.APPROVED,
    (S.UNDER_REVIEW, A.APPROVE_AND_ISSUE): S.ISSUING,
    (S.ISSUING, A.APPROVE_AND_ISSUE): S.ISSUING,  # an interrupted approval, resumed
    (S.ISSUING, A.LICENCE_ISSUED): S.APPROVED,
    (S.UNDER_REVIEW, A.REFUSE): S.REFUSED,
    (S.APPROVED, A.COMPLETE): S.COMPLETED,
    (S.REFUSED, A.COMPLETE): S.COMPLETED,
}

FINAL = frozenset({S.REJECTED, S.COMPLETED})
# accepted and not yet decided: the promised deadline runs (unless paused)
ACTIVE = frozenset({S.ACCEPTED, S.UNDER_REVIEW, S.ISSUING})
NEEDS_REASON = frozenset({A.REJECT, A.REQUEST_CORRECTION, A.REQUEST_SUPPLEMENT, A.REFUSE})
MAX_REASON = 500


def next_status(number: str, status: CaseStatus, action: CaseAction) -> CaseStatus:
    """The status after ``action``, or :class:`IllegalTransitionError` saying why not."""
    after = TRANSITIONS.get((status, action))
    if after is not None:
        return after
    if status in FINAL:
        why = f"case {number} is {status} ({status.label_zh}), which is final"
    else:
        allowed = sorted(str(s) for (s, a) in TRANSITIONS if a is action)
        why = (
            f"case {number} is {status} ({status.label_zh}): {action} is allowed only when it "
            f"is {' or '.join(allowed)}"
        )
    raise IllegalTransitionError(why, field="status")


def allowed_actions(status: CaseStatus) -> list[CaseAction]:
    """The actions the table allows from ``status`` (for clients' buttons)."""
    return [a for (s, a) in TRANSITIONS if s is status]
