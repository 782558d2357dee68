"""Ratings (好差评) of finished cases, the rectification orders a bad one opens, complaints."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hall.conftest import World

DIMENSIONS = {"guidance": 5, "application": 5, "visits": 4, "result": 5}


def completed(w: World) -> str:
    number = w.open_restaurant_case()
    w.drive(number, "accept", "start-review", "approve", "complete")
    return number


def rate(w: World, number: str, who: str = "org", **body: Any) -> Any:
    payload = {"stars": 5, "dimensions": DIMENSIONS, **body}
    return w.api.post(f"/api/v1/cases/{number}/rating", json=payload, headers=w.h(who))


def test_the_applicant_rates_a_finished_case_once(any_world: World) -> None:
    w = any_world
    number = completed(w)
    r = rate(w, number, comment="全程网上办，没有跑腿")
    assert r.status_code == 201, r.text
    assert r.json()["stars_zh"] == "非常满意" and r.json()["rectification"] is None
    assert r.json()["dimensions"] == DIMENSIONS
    twice = rate(w, number, stars=1)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_rated"
    got = w.api.get(f"/api/v1/cases/{number}/rating", headers=w.h("th_amr")).json()
    assert got["stars"] == 5 and got["comment"] == "全程网上办，没有跑腿"


def test_someone_elses_or_an_unfinished_case_cannot_be_rated(any_world: World) -> None:
    w = any_world
    number = completed(w)
    for who in ("org2", "person", "th_amr", "hall"):
        r = rate(w, number, who=who)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", who
    running = w.open_restaurant_case()
    w.drive(running, "accept")
    r = rate(w, running)
    assert r.status_code == 409 and r.json()["error"]["code"] == "case_not_finished"
    assert w.api.get(f"/api/v1/cases/{running}/rating", headers=w.h("org")).status_code == 404


def test_a_rejected_case_may_be_rated_too(world: World) -> None:
    w = world
    number = w.open_restaurant_case()
    w.step("th_amr", number, "reject", "材料不齐")
    assert rate(w, number, stars=3).status_code == 201


def test_a_bad_rating_opens_a_rectification_order(any_world: World) -> None:
    w = any_world
    number = completed(w)
    r = rate(w, number, stars=2, dimensions={**DIMENSIONS, "visits": 1}, comment="要求现场核验")
    assert r.status_code == 201, r.text
    order = r.json()["rectification"]
    # 15 working days from Saturday 2026-11-28
    assert order["department"] == "11440106MB2E000032" and order["due_on"] == "2026-12-18"
    mine = w.api.get("/api/v1/rectifications", headers=w.h("th_amr")).json()
    assert [o["case_number"] for o in mine] == [number] and mine[0]["status"] == "open"
    assert w.api.get("/api/v1/rectifications", headers=w.h("gz_amr")).json() == []
    assert len(w.api.get("/api/v1/rectifications", headers=w.h("admin")).json()) == 1
    assert w.api.get("/api/v1/rectifications", headers=w.h("org")).status_code == 403
    path = f"/api/v1/rectifications/{order['id']}/resolve"
    assert w.api.post(path, json={"note": "x"}, headers=w.h("gz_amr")).status_code == 404
    assert w.api.post(path, json={"note": "x"}, headers=w.h("admin")).status_code == 403
    done = w.api.post(path, json={"note": "已回访并改为线上核验"}, headers=w.h("th_amr"))
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert w.api.post(path, json={"note": "again"}, headers=w.h("th_amr")).status_code == 409
    resolved = w.api.get(
        "/api/v1/rectifications", params={"status": "resolved"}, headers=w.h("admin")
    )
    assert [o["id"] for o in resolved.json()] == [order["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stars": 0, "dimensions": DIMENSIONS}, "stars"),
        ({"stars": 6, "dimensions": DIMENSIONS}, "stars"),
        ({"stars": 5}, "dimensions"),
        ({"stars": 5, "dimensions": {"guidance": 5}}, "dimensions.application"),
        ({"stars": 5, "dimensions": {**DIMENSIONS, "speed": 5}}, "dimensions.speed"),
        ({"stars": 5, "dimensions": {**DIMENSIONS, "result": 9}}, "dimensions.result"),
        ({"stars": 5, "dimensions": DIMENSIONS, "comment": "长" * 501}, "comment"),
        ({"stars": 5, "dimensions": DIMENSIONS, "mood": "good"}, "mood"),
    ],
    ids=[
        "zero",
        "six",
        "no-dimensions",
        "missing-dimension",
        "unknown-dimension",
        "nine",
        "long-comment",
        "extra",
    ],
)
def test_a_bad_rating_body_is_422_and_rates_nothing(
    world: World, body: dict[str, Any], field: str
) -> None:
    w = world
    number = completed(w)
    r = w.api.post(f"/api/v1/cases/{number}/rating", json=body, headers=w.h("org"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert w.api.get(f"/api/v1/cases/{number}/rating", headers=w.h("org")).status_code == 404


def test_complaints_are_recorded_and_answered(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    r = w.api.post(
        f"/api/v1/cases/{number}/complaints", json={"text": "三天未受理"}, headers=w.h("org")
    )
    assert r.status_code == 201, r.text
    complaint = r.json()
    assert complaint["department"] == "11440106MB2E000032" and complaint["answer"] is None
    assert (
        w.api.post(
            f"/api/v1/cases/{number}/complaints", json={"text": "x"}, headers=w.h("org2")
        ).status_code
        == 404
    )
    assert [c["id"] for c in w.api.get("/api/v1/complaints", headers=w.h("org")).json()] == [
        complaint["id"]
    ]
    assert w.api.get("/api/v1/complaints", headers=w.h("org2")).json() == []
    assert w.api.get("/api/v1/complaints", headers=w.h("gz_amr")).json() == []
    path = f"/api/v1/complaints/{complaint['id']}/answer"
    assert (
        w.api.post(
            path, json={"answer": "x", "substantiated": True}, headers=w.h("gz_amr")
        ).status_code
        == 404
    )
    assert (
        w.api.post(
            path, json={"answer": "x", "substantiated": True}, headers=w.h("hall")
        ).status_code
        == 403
    )
    missing = w.api.post(path, json={"answer": "x"}, headers=w.h("th_amr"))
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "substantiated"
    answered = w.api.post(
        path, json={"answer": "已于当日受理，致歉", "substantiated": True}, headers=w.h("th_amr")
    )
    assert answered.status_code == 200 and answered.json()["substantiated"] is True
    again = w.api.post(path, json={"answer": "再答", "substantiated": False}, headers=w.h("admin"))
    assert again.status_code == 409
    listed = w.api.get(
        "/api/v1/complaints", params={"case_number": number}, headers=w.h("admin")
    ).json()
    assert listed[0]["answer"] == "已于当日受理，致歉"


@pytest.mark.parametrize(
    "body",
    [{"text": ""}, {"text": "x" * 1001}, {"text": "x", "to": "mayor"}],
    ids=["empty", "long", "extra"],
)
def test_a_bad_complaint_is_422(world: World, body: dict[str, Any]) -> None:
    number = world.open_restaurant_case()
    r = world.api.post(f"/api/v1/cases/{number}/complaints", json=body, headers=world.h("org"))
    assert r.status_code == 422
    assert world.api.get("/api/v1/complaints", headers=world.h("org")).json() == []
