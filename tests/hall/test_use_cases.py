"""The hall's use cases on in-memory fakes of their seams (tests/hall/fakes.py): the pure layer
alone, without a database, a verifier or an issuer. The same behaviour through the real seams,
over SQLite and PostgreSQL, is tested by the API tests beside this file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import pytest

from elicence.domain.catalogue import HolderIdType
from elicence.domain.clients import Client, Role
from elicence.domain.codes import LicenceIdentifier
from elicence.domain.licence import HolderRef, Verdict
from elicence.errors import ConflictError, InputError, KeyCustodyError, NotFoundError
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue
from elicence.hall.approval import Approving
from elicence.hall.calendar import DEMO_HOLIDAYS, load_calendar
from elicence.hall.cases import CitedLicence, UploadIn
from elicence.hall.feedback import Feedback
from elicence.hall.items_file import DEMO_ITEMS, load_items
from elicence.hall.numbers import new_case_number
from elicence.hall.ports import Seams
from elicence.hall.steps import Steps
from elicence.hall.submission import Submission
from elicence.hall.workflow import CaseAction, CaseStatus
from tests.conftest import BUSINESS, NOW
from tests.hall.conftest import ORG, PDF, TH_AMR, restaurant_application
from tests.hall.fakes import FakeCitations, FakeIssuer, MemoryCaseStore

ITEMS = load_items(DEMO_ITEMS)
LICENCES = load_catalogue(DEMO_CATALOGUE)
CALENDAR = load_calendar(DEMO_HOLIDAYS)
ORG_REF = HolderRef(HolderIdType.USCC, ORG)
BIZ = str(LicenceIdentifier(BUSINESS, TH_AMR, "BIZ1", 1))  # the applicant's business licence
ORG_NAME = "广州市天河区某某餐饮管理有限公司"
# an API key of the enterprise: its name is the key's label, not the enterprise's name
APPLICANT = Client("c_org", "ERP 对接密钥", Role.HOLDER, None, ORG_REF)
CLERK = Client("c_clerk", "天河区市场监管局窗口", Role.DEPARTMENT, TH_AMR)
LAYOUT = UploadIn("premises_layout", "layout.pdf", "application/pdf", PDF)


@dataclass
class Hall:
    store: MemoryCaseStore
    citations: FakeCitations
    issuer: FakeIssuer
    submission: Submission
    steps: Steps
    approving: Approving
    feedback: Feedback

    def restaurant(self, **over: Any) -> dict[str, Any]:
        return restaurant_application({"identifier": BIZ}, **over)

    def reviewed_despite_the_issuer(self) -> str:
        refused, self.issuer.refuse_item = self.issuer.refuse_item, None
        number = self.reviewed()
        self.issuer.refuse_item = refused
        return number

    def reviewed(self) -> str:
        case = self.submission.submit(self.restaurant(), [LAYOUT], client=APPLICANT)
        for action in (CaseAction.ACCEPT, CaseAction.START_REVIEW):
            self.steps.act(case.number, action, client=CLERK)
        return case.number


@pytest.fixture
def hall() -> Hall:
    citations = FakeCitations()
    store = MemoryCaseStore(names={ORG_REF: ORG_NAME}, usage=citations.usage)
    citations.hold(CitedLicence(BIZ, BUSINESS, TH_AMR, ORG_REF))
    issuer = FakeIssuer(LICENCES)
    seams = Seams(
        store=store,
        items=lambda: (1, ITEMS),
        licences=lambda: LICENCES,
        citations=citations,
        issuer=issuer,
        calendar=CALENDAR,
        clock=lambda: NOW,
    )
    return Hall(
        store,
        citations,
        issuer,
        Submission(seams),
        Steps(seams),
        Approving(seams),
        Feedback(seams),
    )


def test_a_case_is_stored_whole_and_its_citation_recorded_naming_it(hall: Hall) -> None:
    case = hall.submission.submit(hall.restaurant(), [LAYOUT], client=APPLICANT)
    assert hall.store.case(case.number) == case and hall.store.commits == 1
    assert [c.identifier for c in case.citations] == [BIZ]
    assert hall.store.upload(case.number, "premises_layout") is not None
    [used] = hall.citations.usage
    assert (used.identifier, used.verdict, used.case_number) == (BIZ, Verdict.VALID, case.number)


def test_a_refused_citation_stores_nothing_and_is_recorded_without_a_case(hall: Hall) -> None:
    hall.citations.hold(CitedLicence(BIZ, BUSINESS, TH_AMR, ORG_REF), Verdict.REVOKED)
    with pytest.raises(InputError) as e:
        hall.submission.submit(hall.restaurant(), [LAYOUT], client=APPLICANT)
    assert (e.value.code, e.value.field) == ("cited_licence_revoked", "licences[0]")
    assert hall.store.state.cases == {} and hall.store.commits == 0
    [used] = hall.citations.usage
    assert used.verdict is Verdict.REVOKED and used.case_number is None


def test_what_approval_could_not_issue_is_refused_naming_the_form_field(hall: Hall) -> None:
    """The issuer checks the licence the form would give; its error names the form's field, as
    the application named it (the draft's parts are named by DraftFields, not rewritten)."""
    hall.issuer.refuse_item = "business_premises"
    with pytest.raises(InputError) as e:
        hall.submission.submit(hall.restaurant(), [LAYOUT], client=APPLICANT)
    assert e.value.field == "form.business_premises"
    assert hall.store.state.cases == {} and hall.citations.usage == []
    number = hall.reviewed_despite_the_issuer()
    with pytest.raises(InputError) as e:  # at approval: named as the decision's data
        hall.approving.approve(number, {}, client=CLERK)
    assert e.value.field == "data.business_premises"


def test_the_applicants_name_is_its_own_never_the_api_keys_label(hall: Hall) -> None:
    case = hall.submission.submit(hall.restaurant(), [LAYOUT], client=APPLICANT)
    assert case.applicant.name == ORG_NAME  # from the registry's licences of the holder
    given = hall.restaurant(applicant={"name": "某某餐饮（天河店）"})
    assert hall.submission.submit(given, [LAYOUT], client=APPLICANT).applicant.name == (
        "某某餐饮（天河店）"
    )
    signed_in = replace(APPLICANT, name="x", holder_name="广州某某餐饮")  # a web sign-in
    case = hall.submission.submit(hall.restaurant(), [LAYOUT], client=signed_in)
    assert case.applicant.name == "广州某某餐饮"


def test_an_applicant_with_no_name_on_record_must_give_one(hall: Hall) -> None:
    hall.store.names.clear()
    with pytest.raises(InputError) as e:
        hall.submission.submit(hall.restaurant(), [LAYOUT], client=APPLICANT)
    assert e.value.field == "applicant.name"
    assert hall.store.state.cases == {}


def test_acceptance_sets_the_due_day_in_working_days(hall: Hall) -> None:
    case = hall.submission.submit(hall.restaurant(), [LAYOUT], client=APPLICANT)
    accepted = hall.steps.act(case.number, CaseAction.ACCEPT, client=CLERK)
    today = dt.date(2026, 11, 28)  # NOW in China
    assert accepted.accepted_on == today
    assert accepted.due_on == CALENDAR.add_working_days(today, case.item.promised_days)
    assert [e.action for e in hall.store.events(case.number)] == ["submit", CaseAction.ACCEPT]


def test_approval_issues_a_numbered_licence_to_the_applicant_once(hall: Hall) -> None:
    number = hall.reviewed()
    approval = hall.approving.approve(number, {}, client=CLERK)
    assert approval.case.status is CaseStatus.APPROVED and approval.created
    identifier, draft = hall.issuer.issued[number]
    assert approval.licence == identifier
    # numbered by the issuer at approval (the submission's check drew one too), not the case's
    assert draft.licence_number == f"N{hall.issuer.numbered:04d}" != number
    assert draft.holder.name == ORG_NAME and draft.holder.ref == ORG_REF
    assert draft.data["business_premises"] == "广州市天河区天河路385号首层101铺"
    # the cited licence was verified again, recorded naming the case, by the clerk
    assert hall.citations.usage[-1].client_id == CLERK.id
    with pytest.raises(ConflictError):
        hall.approving.approve(number, {}, client=CLERK)
    assert len(hall.issuer.issued) == 1


def test_an_interrupted_approval_resumes_with_the_draft_it_stored(hall: Hall) -> None:
    number = hall.reviewed()
    hall.issuer.refuse_issue = KeyCustodyError("the department's key is not loaded")
    with pytest.raises(KeyCustodyError):
        hall.approving.approve(number, {"licence_number": "JY1"}, client=CLERK)
    waiting = hall.store.case(number)
    assert waiting is not None and waiting.status is CaseStatus.ISSUING
    assert waiting.issuance is not None and waiting.issuance.licence_number == "JY1"
    hall.issuer.refuse_issue = None
    done = hall.approving.approve(number, {"licence_number": "JY2"}, client=CLERK)
    assert done.case.status is CaseStatus.APPROVED
    assert hall.issuer.issued[number][1] == waiting.issuance  # the stored draft, not JY2


def test_a_bad_rating_opens_a_work_order_due_in_working_days(hall: Hall) -> None:
    number = hall.reviewed()
    hall.steps.act(number, CaseAction.REFUSE, client=CLERK, reason="场所不符合要求")
    hall.steps.act(number, CaseAction.COMPLETE, client=CLERK)
    stars = {"guidance": 2, "application": 2, "visits": 1, "result": 1}
    rating, order = hall.feedback.rate(number, {"stars": 1, "dimensions": stars}, client=APPLICANT)
    assert rating.stars == 1 and order is not None and order.id == 1
    assert order.due_on == CALENDAR.add_working_days(dt.date(2026, 11, 28), 15)
    with pytest.raises(ConflictError):
        hall.feedback.rate(number, {"stars": 5, "dimensions": stars}, client=APPLICANT)


def test_progress_answers_a_wrong_applicant_as_an_unknown_number(hall: Hall) -> None:
    case = hall.submission.submit(hall.restaurant(), [LAYOUT], client=APPLICANT)
    assert hall.feedback.progress(case.number, ORG_REF).case == case
    other = HolderRef(HolderIdType.USCC, "91440101MA59TK3R7Y")
    with pytest.raises(NotFoundError) as wrong:
        hall.feedback.progress(case.number, other)
    with pytest.raises(NotFoundError) as unknown:
        hall.feedback.progress(new_case_number(case.division, dt.date(2026, 11, 27)), ORG_REF)
    assert wrong.value.message == unknown.value.message
