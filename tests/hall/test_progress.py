"""Progress and result without logging in (进度查询, 结果查询): by case number and the
applicant's id, the applicant masked, rate-limited per address and per case."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import only_limits
from tests.hall.conftest import ORG, World


def ask(w: World, number: str, holder_id: str = ORG, holder_id_type: str = "001") -> Any:
    body = {"case_number": number, "holder_id_type": holder_id_type, "holder_id": holder_id}
    return w.api.post("/api/v1/progress", json=body)


def test_an_applicant_follows_its_case_without_logging_in(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    w.drive(number, "accept", "start-review", "approve")
    r = ask(w, number.lower())
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["number"] == number and p["status"] == "approved" and p["status_zh"] == "准予许可"
    assert p["applicant_name"] != "广州市天河区某某餐饮管理有限公司" and "*" in p["applicant_name"]
    assert p["applicant_id"] == "9135**********0Y43"
    assert p["due_on"] == "2026-12-11" and p["licence"]
    assert p["department"] == "广州市天河区市场监督管理局"
    steps = [e["action"] for e in p["timeline"]]
    assert steps == ["submit", "accept", "start_review", "approve_and_issue", "licence_issued"]
    assert all(e["actor"] is None and e["detail"] == {} for e in p["timeline"])
    assert "form" not in p and "uploads" not in p and "citations" not in p


def test_a_wrong_holder_and_an_unknown_number_look_the_same(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    wrong_holder = ask(w, number, "91440101MA59TK3R7Y")
    unknown = ask(w, _with_valid_check(number[:12] + "00000000"))
    assert wrong_holder.status_code == 404 and unknown.status_code == 404
    assert wrong_holder.json() == unknown.json()


def _with_valid_check(body: str) -> str:
    from elicence.domain.codes import mod37_36_check_char

    return body + mod37_36_check_char(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"case_number": "123", "holder_id_type": "001", "holder_id": ORG}, "case_number"),
        (
            {
                "case_number": "4401062611287K3M9Q2XY",
                "holder_id_type": "001",
                "holder_id": ORG[:-1] + "X",
            },
            "holder.id_number",
        ),
        (
            {"case_number": "4401062611287K3M9Q2XY", "holder_id_type": "002", "holder_id": ORG},
            "holder.id_type",
        ),
        ({"case_number": "4401062611287K3M9Q2XY", "holder_id": ORG}, "holder_id_type"),
    ],
    ids=["short-number", "bad-uscc", "unknown-id-type", "no-id-type"],
)
def test_bad_queries_are_422(world: World, body: dict[str, str], field: str) -> None:
    r = world.api.post("/api/v1/progress", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field


def _limit(w: World, *, per_address: str, per_case: str) -> None:
    """The service's own limits for the progress query (the clock of the test world does not
    move, so a bucket refills only when a test says so)."""
    w.svc.guard.limits = only_limits(progress_ip=per_address, progress_case=per_case)


def test_queries_are_limited_per_address(world: World) -> None:
    w = world
    number = w.open_restaurant_case()
    _limit(w, per_address="1/h burst 3", per_case="1/h burst 100")
    assert [ask(w, number).status_code for _ in range(3)] == [200, 200, 200]
    r = ask(w, number)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) > 0
    assert ask(w, number, "91440101MA59TK3R7Y").status_code == 429  # guessing ids is limited too


def test_queries_are_limited_per_case(world: World) -> None:
    w = world
    number, other = w.open_restaurant_case(), w.open_restaurant_case()
    _limit(w, per_address="1/h burst 100", per_case="1/h burst 2")
    assert [ask(w, number, "91440101MA59TK3R7Y").status_code for _ in range(2)] == [404, 404]
    assert ask(w, number).status_code == 429  # even with the right id, this case is closed now
    assert ask(w, other).status_code == 200


def test_the_configured_limits_refuse_a_burst_and_refill(world: World) -> None:
    """The settings' defaults: 5 queries of one case at once, then one a minute."""
    from elicence.settings import Settings

    w = world
    defaults = Settings()
    _limit(
        w,
        per_address=defaults.rate_limit_progress_ip,
        per_case=defaults.rate_limit_progress_case,
    )
    number = w.open_restaurant_case()
    codes = [ask(w, number).status_code for _ in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    w.svc.clock.advance(seconds=61)  # type: ignore[attr-defined]
    assert ask(w, number).status_code == 200
    assert ask(w, number).status_code == 429
