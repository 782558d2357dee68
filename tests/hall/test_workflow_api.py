"""The case workflow over HTTP: acceptance, review, supplements that stop the clock, decisions,
completion, visits; illegal steps are 409 with the reason; who may see and do what."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import Clock
from tests.hall.conftest import FIRE, MARRIAGE_REG, PDF, World


def get(w: World, who: str, number: str) -> dict:  # type: ignore[type-arg]
    r = w.api.get(f"/api/v1/cases/{number}", headers=w.h(who))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_case_goes_from_submission_to_completion(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    accepted = w.step("th_amr", number, "accept").json()
    # accepted on Saturday 2026-11-28: 10 working days end on Friday 2026-12-11
    assert accepted["status"] == "accepted" and accepted["accepted_on"] == "2026-11-28"
    assert accepted["due_on"] == "2026-12-11" and accepted["overdue"] is False
    assert w.step("th_amr", number, "start-review").json()["status"] == "under_review"
    approved = w.api.post(f"/api/v1/cases/{number}/approve", json={}, headers=w.h("th_amr")).json()
    assert approved["status"] == "approved" and approved["licence"] and approved["licence_created"]
    done = w.step("th_amr", number, "complete").json()
    assert done["status"] == "completed" and done["completed_at"] and done["allowed_actions"] == []
    actions = [e["action"] for e in get(w, "org", number)["events"]]
    assert actions == [
        "submit",
        "accept",
        "start_review",
        "approve_and_issue",
        "licence_issued",
        "complete",
    ]


def test_rejection_at_acceptance_needs_a_reason_and_is_final(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    r = w.step("th_amr", number, "reject")
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = w.step("th_amr", number, "reject", "经营场所不在本辖区")
    assert r.json()["status"] == "rejected" and r.json()["reason"] == "经营场所不在本辖区"
    again = w.step("th_amr", number, "accept")
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
    assert "final" in again.json()["error"]["message"]


@pytest.mark.parametrize(
    ("steps", "illegal"),
    [
        ((), "start-review"),
        ((), "complete"),
        (("accept",), "accept"),
        (("accept",), "refuse"),
        (("accept", "start-review"), "accept"),
        (("accept", "start-review"), "complete"),
    ],
    ids=[
        "review-unaccepted",
        "complete-unaccepted",
        "accept-twice",
        "refuse-unreviewed",
        "accept-in-review",
        "complete-undecided",
    ],
)
def test_an_illegal_step_is_409_saying_why(
    any_world: World, steps: tuple[str, ...], illegal: str
) -> None:
    w = any_world
    number = w.open_restaurant_case()
    w.drive(number, *steps)
    before = get(w, "th_amr", number)
    r = w.step("th_amr", number, illegal, "理由")
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "illegal_transition" and err["field"] == "status"
    assert f"is {before['status']}" in err["message"]
    assert get(w, "th_amr", number)["events"] == before["events"]  # nothing written


def test_approving_before_review_is_409_and_issues_nothing(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    r = w.api.post(f"/api/v1/cases/{number}/approve", json={}, headers=w.h("th_amr"))
    assert r.status_code == 409
    assert w.svc.registry.search(
        type_code="11100000000013338W011", limit=1000
    ) == w.svc.registry.search(
        type_code="11100000000013338W011", department="11440106MB2E000032", limit=1000
    )
    assert all(lic.source_ref != number for lic in w.svc.registry.search(limit=1000))


def test_a_supplement_request_stops_the_clock(world: World, clock: Clock) -> None:
    w = world
    number = w.open_restaurant_case()
    w.drive(number, "accept", "start-review")
    clock.now = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # Monday
    r = w.step("th_amr", number, "request-supplement", "请补充经营场所平面图（标注功能区）")
    assert r.json()["status"] == "awaiting_supplement" and r.json()["paused_since"] == "2026-11-30"
    clock.now = dt.datetime(2026, 12, 15, 2, 0, tzinfo=dt.UTC)  # past the promised day
    paused = get(w, "org", number)
    assert paused["overdue"] is False  # the clock is stopped
    assert w.api.get("/api/v1/cases", params={"overdue": True}, headers=w.h("admin")).json() == []
    clock.now = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # Friday: back in time for the test
    r = w.api.post(
        f"/api/v1/cases/{number}/supplement",
        data={"application": '{"note": "已补充"}'},
        files={"premises_layout": ("layout-v2.pdf", PDF + b"v2", "application/pdf")},
        headers=w.h("org"),
    )
    assert r.status_code == 200, r.text
    case = r.json()
    # paused Dec 1, 2, 3, 4 (4 working days): the promised day moves from Dec 11 to Dec 17
    assert case["status"] == "under_review" and case["paused_days"] == 4
    assert case["due_on"] == "2026-12-17" and case["paused_since"] is None
    assert case["uploads"][0]["filename"] == "layout-v2.pdf"
    blob = w.api.get(f"/api/v1/cases/{number}/uploads/premises_layout", headers=w.h("th_amr"))
    assert blob.content == PDF + b"v2"
    clock.now = dt.datetime(2026, 12, 18, 2, 0, tzinfo=dt.UTC)
    assert get(w, "th_amr", number)["overdue"] is True
    late = w.api.get("/api/v1/cases", params={"overdue": True}, headers=w.h("admin")).json()
    assert [c["number"] for c in late] == [number]


def test_a_correction_before_acceptance_re_verifies_what_is_handed_in(world: World) -> None:
    w = world
    number = w.open_restaurant_case()
    r = w.step("th_amr", number, "request-correction", "请使用最新版营业执照")
    assert r.json()["status"] == "awaiting_correction"
    body = {"licences": [{"material": "business_licence", "identifier": w.idents["biz"]}]}
    r = w.api.post(f"/api/v1/cases/{number}/supplement", json=body, headers=w.h("org"))
    assert r.status_code == 200, r.text
    assert (
        r.json()["status"] == "submitted" and r.json()["citations"][0]["presented"] == "identifier"
    )
    checks = w.svc.registry.usage(case_number=number)
    assert len(checks) == 2 and {u["channel"] for u in checks} == {"seal", "identifier"}


def test_supplements_are_handed_in_by_the_applicant_when_asked(world: World) -> None:
    w = world
    number = w.open_restaurant_case()
    early = w.api.post(f"/api/v1/cases/{number}/supplement", json={"note": "x"}, headers=w.h("org"))
    assert early.status_code == 409  # nothing was asked
    w.step("th_amr", number, "request-correction", "补正")
    other = w.api.post(
        f"/api/v1/cases/{number}/supplement", json={"note": "x"}, headers=w.h("org2")
    )
    assert other.status_code == 404
    clerk = w.api.post(
        f"/api/v1/cases/{number}/supplement", json={"note": "x"}, headers=w.h("th_amr")
    )
    assert clerk.status_code == 403  # an online case's supplement is the applicant's
    bad = w.api.post(
        f"/api/v1/cases/{number}/supplement", json={"form": {"x": "1"}}, headers=w.h("org")
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "form.x"
    assert get(w, "org", number)["status"] == "awaiting_correction"


def test_on_site_visits_are_counted(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    r = w.api.post(f"/api/v1/cases/{number}/visits", json={"note": "现场核查"}, headers=w.h("hall"))
    assert r.status_code == 200 and r.json()["visits"] == 1
    r = w.api.post(f"/api/v1/cases/{number}/visits", headers=w.h("th_amr"))
    assert r.json()["visits"] == 2
    assert w.api.post(f"/api/v1/cases/{number}/visits", headers=w.h("org")).status_code == 403
    assert w.api.post(f"/api/v1/cases/{number}/visits", headers=w.h("gz_amr")).status_code == 403
    w.step("th_amr", number, "reject", "不予受理")
    assert w.api.post(f"/api/v1/cases/{number}/visits", headers=w.h("hall")).status_code == 409
    assert [e["action"] for e in get(w, "org", number)["events"]].count("visit") == 2


def test_who_sees_and_acts_on_a_case(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    for who in ("org", "th_amr", "hall", "admin"):
        assert w.api.get(f"/api/v1/cases/{number}", headers=w.h(who)).status_code == 200, who
    for who in ("org2", "person", "gz_amr"):  # another holder, another department: 404
        r = w.api.get(f"/api/v1/cases/{number}", headers=w.h(who))
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", who
    r = w.step("gz_amr", number, "accept")  # another department acting: 403, as for licences
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_handling_department"
    assert w.step("org2", number, "accept").status_code == 404
    assert w.step("org", number, "accept").status_code == 403
    assert w.step("admin", number, "accept").status_code == 403
    assert w.step("hall", number, "accept").json()["status"] == "accepted"  # depth 3: 统一受理
    assert w.step("hall", number, "start-review").status_code == 403  # review is the department's
    assert get(w, "org", number)["status"] == "accepted"


def test_the_hall_accepts_only_items_at_depth_two_or_three(world: World) -> None:
    w = world
    body = {
        "item_code": MARRIAGE_REG,
        "form": {
            "spouse_name": "王五",
            "spouse_id_number": "11010519491231002X",
            "registration_date": "2026-11-28",
        },
    }
    r = w.submit("person", body)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    refused = w.step("hall", number, "accept")
    assert refused.status_code == 403 and "depth 1" in refused.json()["error"]["message"]
    assert w.step("th_civil", number, "accept").json()["status"] == "accepted"


def test_listings_are_scoped_to_the_client(any_world: World) -> None:
    w = any_world
    mine = w.open_restaurant_case()
    fire = w.submit_fire_case()
    assert fire.status_code == 201, fire.text

    def numbers(who: str, **params: object) -> set[str]:
        r = w.api.get("/api/v1/cases", params=params, headers=w.h(who))
        assert r.status_code == 200, r.text
        return {c["number"] for c in r.json()}

    both = {mine, fire.json()["number"]}
    assert numbers("org") == both and numbers("org2") == set()
    assert numbers("th_amr") == {mine} and numbers("th_fire") == {fire.json()["number"]}
    assert numbers("gz_amr") == set()
    assert numbers("th_amr", department="11440106MB2E00710H") == set()
    assert numbers("admin") == both and numbers("hall", status="submitted") == both
    assert numbers("admin", item_code=FIRE) == {fire.json()["number"]}
    bad = w.api.get("/api/v1/cases", params={"status": "lost"}, headers=w.h("admin"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"


def test_a_case_number_with_a_wrong_check_character_is_422(world: World) -> None:
    number = world.open_restaurant_case()
    wrong = number[:-1] + ("A" if number[-1] != "A" else "B")
    r = world.api.get(f"/api/v1/cases/{wrong}", headers=world.h("org"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "case_number"
