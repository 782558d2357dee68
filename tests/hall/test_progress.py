"""Progress and result without logging in (进度查询, 结果查询): by case number and the
applicant's id, the applicant masked, rate-limited per address and per case."""

from __future__ import annotations

from typing import Any

import pytest

from elicence.api.hall_limits import ProgressLimits, TokenBucketLimiter
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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_queries_are_limited_per_address(world: World) -> None:
    w = world
    number = w.open_restaurant_case()
    w.api.app.state.hall_progress_limits = ProgressLimits(  # type: ignore[attr-defined]
        per_client=TokenBucketLimiter(capacity=3, per_second=0, clock=FakeClock()),
        per_case=TokenBucketLimiter(capacity=100, per_second=0, clock=FakeClock()),
    )
    assert [ask(w, number).status_code for _ in range(3)] == [200, 200, 200]
    r = ask(w, number)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert r.headers["retry-after"] == "60"
    assert ask(w, number, "91440101MA59TK3R7Y").status_code == 429  # guessing ids is limited too


def test_queries_are_limited_per_case(world: World) -> None:
    w = world
    number, other = w.open_restaurant_case(), w.open_restaurant_case()
    w.api.app.state.hall_progress_limits = ProgressLimits(  # type: ignore[attr-defined]
        per_client=TokenBucketLimiter(capacity=100, per_second=0, clock=FakeClock()),
        per_case=TokenBucketLimiter(capacity=2, per_second=0, clock=FakeClock()),
    )
    assert [ask(w, number, "91440101MA59TK3R7Y").status_code for _ in range(2)] == [404, 404]
    assert ask(w, number).status_code == 429  # even with the right id, this case is closed now
    assert ask(w, other).status_code == 200


def test_the_default_limits_refuse_a_burst(world: World) -> None:
    w = world
    number = w.open_restaurant_case()
    codes = [ask(w, number).status_code for _ in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429


def test_a_bucket_refills_with_time() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(capacity=2, per_second=0.5, clock=clock)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("b")  # keys are independent
    clock.now += 1.0  # half a token
    assert not limiter.allow("a")
    clock.now += 1.0  # one token (a refused call consumed nothing)
    assert limiter.allow("a") and not limiter.allow("a")
    clock.now += 100
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]  # capped at capacity


def test_a_full_table_forgets_refilled_keys_first() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(capacity=1, per_second=1, clock=clock)
    limiter.MAX_KEYS = 3  # type: ignore[misc]
    for key in "abc":
        assert limiter.allow(key)
    clock.now += 5  # a, b, c have refilled
    assert limiter.allow("d")
    assert not limiter.allow("d")  # d's bucket is kept, and empty
