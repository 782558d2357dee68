"""Hall (pure): cases (办件) and what hangs on them, as domain values: the application, cited
e-licences, uploads, the timeline, ratings (好差评), rectification work orders and complaints.

Invariants: a :class:`Case` carries a snapshot of the service item it was applied for (the
catalogue may change; the case keeps what was applied for); ``due_on`` is set at acceptance and
only moves later by the working days a supplement request (补正) paused the clock; a cited
e-licence is stored with the verdict it had when it was last checked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from elicence.domain.licence import HolderRef, LicenceDraft, Verdict
from elicence.hall.items import ServiceItem
from elicence.hall.workflow import ACTIVE, FINAL, CaseAction, CaseStatus


class Channel(StrEnum):
    """How a case was applied for."""

    ONLINE = "online"  # 网上申办: by the applicant, through the hall's API
    WINDOW = "window"  # 窗口: entered by a hall or department clerk for the applicant


@dataclass(frozen=True, slots=True)
class Applicant:
    """The applicant (申请人): a person by resident ID, an enterprise by USCC, or another id."""

    ref: HolderRef
    name: str


@dataclass(frozen=True, slots=True)
class Citation:
    """An e-licence cited for a material instead of a paper original."""

    material: str
    identifier: str
    licence_type: str
    presented: str  # "seal" or "identifier": how the applicant gave it
    verdict: Verdict  # the verifier's verdict at the last check
    checked_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CitedLicence:
    """What the registry holds of a cited licence that the hall's rules need: its type, its
    issuer and its holder, unmasked (a natural person's seal carries the id masked)."""

    identifier: str
    type_code: str
    department: str
    holder: HolderRef


@dataclass(frozen=True, slots=True)
class UploadIn:
    """An uploaded file as the transport received it, not yet checked."""

    material: str
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Upload:
    """An upload as stored: its bytes live in the registry, named by case and material."""

    material: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime

    @classmethod
    def of(cls, upload: UploadIn, *, filename: str, at: dt.datetime) -> Upload:
        return cls(
            upload.material,
            filename,
            upload.content_type,
            len(upload.content),
            hashlib.sha256(upload.content).hexdigest(),
            at,
        )


@dataclass(frozen=True, slots=True)
class Case:
    """A case (办件) as the registry holds it."""

    number: str
    item: ServiceItem  # the item as it was when the case was submitted
    division: str
    applicant: Applicant
    channel: Channel
    status: CaseStatus
    submitted_at: dt.datetime
    form: Mapping[str, str] = field(default_factory=dict)
    citations: tuple[Citation, ...] = ()
    uploads: tuple[Upload, ...] = ()
    applicant_client: str | None = None  # the client who applied online
    accepted_on: dt.date | None = None
    due_on: dt.date | None = None  # the promised deadline, in working days from acceptance
    paused_since: dt.date | None = None  # the clock is stopped by a supplement request (补正)
    paused_days: int = 0  # working days the clock was stopped, in all
    decided_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    reason: str | None = None  # of a rejection, a refusal or a supplement request
    licence: str | None = None  # the identifier of the licence issued on approval
    issuance: LicenceDraft | None = None  # the licence to issue, as the issuer checked it
    visits: int = 0  # on-site visits (到现场次数)
    version: int = 1
    item_version: int = 0  # the version of the item catalogue it was applied under

    @property
    def department(self) -> str:
        return self.item.department

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def overdue(self, today: dt.date) -> bool:
        """Accepted, not decided, the clock running and the promised day passed."""
        return (
            self.status in ACTIVE
            and self.paused_since is None
            and self.due_on is not None
            and today > self.due_on
        )

    def citation(self, material: str) -> Citation | None:
        for c in self.citations:
            if c.material == material:
                return c
        return None


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One step of a case's timeline (its progress): a transition, a visit, a supplement."""

    number: str
    at: dt.datetime
    action: CaseAction | str
    from_status: CaseStatus | None
    to_status: CaseStatus
    actor: str
    detail: Mapping[str, object] = field(default_factory=dict)


class RatingDimension(StrEnum):
    """What a rating scores, from the seed's "事前清楚、事中少走、事后评议" and the
    applicant's experience needs it lists (办事指引, 网上申请, 少走, 结果反馈)."""

    GUIDANCE = "guidance"  # 办事指引清楚 (事前清楚: 能不能办、在哪里办、怎么办、多久能办完)
    APPLICATION = "application"  # 网上申请便捷 (电子证照代替纸质原件, 无需重复提交)
    VISITS = "visits"  # 少跑少等 (事中少走: 减少到现场次数, 缩短等待)
    RESULT = "result"  # 进度与结果 (进度查询, 结果反馈)

    @property
    def label_zh(self) -> str:
        return {
            RatingDimension.GUIDANCE: "办事指引清楚",
            RatingDimension.APPLICATION: "网上申请便捷",
            RatingDimension.VISITS: "少跑少等",
            RatingDimension.RESULT: "进度与结果反馈",
        }[self]


STAR_LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
SATISFIED_FROM = 4  # a rating of 4 or 5 stars counts as satisfied (服务满意率)
RECTIFY_BELOW = 3  # a rating of 1 or 2 stars (差评) opens a rectification work order


@dataclass(frozen=True, slots=True)
class Rating:
    """A rating (好差评) of a finished case by its applicant: overall stars and each dimension."""

    number: str
    at: dt.datetime
    stars: int
    dimensions: Mapping[RatingDimension, int]
    comment: str = ""

    @property
    def satisfied(self) -> bool:
        return self.stars >= SATISFIED_FROM


class OrderStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Rectification:
    """A rectification work order (整改工单) a bad rating opened for the handling department."""

    id: int | None
    number: str
    department: str
    opened_at: dt.datetime
    due_on: dt.date
    status: OrderStatus = OrderStatus.OPEN
    resolved_at: dt.datetime | None = None
    note: str = ""

    def overdue(self, today: dt.date) -> bool:
        return self.status is OrderStatus.OPEN and today > self.due_on


@dataclass(frozen=True, slots=True)
class Complaint:
    """A complaint (投诉) about a case, and the department's (or the supervisor's) answer."""

    id: int | None
    number: str
    department: str
    at: dt.datetime
    text: str
    answer: str | None = None
    answered_at: dt.datetime | None = None
    answered_by: str | None = None
    substantiated: bool | None = None  # 有效投诉: found justified when answered
