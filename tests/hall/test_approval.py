"""Approval (准予) issues the item's licence through the issuer, once per case whatever is
retried, raced or interrupted; the cited e-licences are verified again first."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from elicence.errors import Error, KeyCustodyError, RegistryError
from elicence.hall.cases import Case
from elicence.hall.workflow import CaseStatus
from elicence.issuer.lifecycle import Action
from elicence.registry.hall import HallUnitOfWork
from tests.hall.conftest import ORG, World

FOOD = "11100000000013338W011"


def reviewed(w: World) -> str:
    number = w.open_restaurant_case()
    w.drive(number, "accept", "start-review")
    return number


def approve(w: World, number: str, who: str = "th_amr", body: dict[str, Any] | None = None) -> Any:
    return w.api.post(f"/api/v1/cases/{number}/approve", json=body or {}, headers=w.h(who))


def licences_of(w: World, number: str) -> list[Any]:
    return [
        lic for lic in w.svc.registry.search(type_code=FOOD, limit=1000) if lic.source_ref == number
    ]


def test_approval_issues_the_items_licence_to_the_applicant(any_world: World) -> None:
    w = any_world
    number = reviewed(w)
    r = approve(w, number, body={"licence_number": "JY14401060000999", "note": "准予许可"})
    assert r.status_code == 200, r.text
    case = r.json()
    [lic] = licences_of(w, number)
    assert case["licence"] == lic.identifier and case["licence_created"] is True
    assert lic.holder.id_number == ORG and lic.licence_number == "JY14401060000999"
    assert lic.data["business_premises"] == "广州市天河区天河路385号首层101铺"
    assert str(lic.valid_from) == "2026-11-28" and str(lic.valid_until) == "2031-11-27"
    verified = w.api.post("/api/v1/verify", json={"identifier": lic.identifier}).json()
    assert verified["verdict"] == "valid"
    # the applicant finds its new licence among its own
    mine = w.api.get("/api/v1/licences", headers=w.h("org")).json()
    assert lic.identifier in {x["identifier"] for x in mine}
    # the approval checked the cited licence again, and recorded it naming the case
    checks = w.svc.registry.usage(case_number=number)
    assert [u["client_id"] for u in checks] == [w.client("th_amr").id, w.client("org").id]


def test_approving_twice_issues_one_licence(any_world: World) -> None:
    w = any_world
    number = reviewed(w)
    assert approve(w, number).status_code == 200
    again = approve(w, number)
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
    assert len(licences_of(w, number)) == 1


def test_a_crash_after_issuing_does_not_issue_twice(
    any_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The licence is issued but linking it to the case fails (the process dies, the database
    goes away): the case waits in ``issuing``; approving again links the same licence."""
    w = any_world
    number = reviewed(w)
    save = HallUnitOfWork.save_case
    failed: list[str] = []

    def failing(self: HallUnitOfWork, case: Case, *a: Any, **kw: Any) -> None:
        if case.status is CaseStatus.APPROVED and not failed:
            failed.append(case.number)
            raise RegistryError("the database went away")
        save(self, case, *a, **kw)

    monkeypatch.setattr(HallUnitOfWork, "save_case", failing)
    crashed = approve(w, number)
    assert crashed.status_code == 503 and failed == [number]
    [issued] = licences_of(w, number)
    waiting = w.api.get(f"/api/v1/cases/{number}", headers=w.h("th_amr")).json()
    assert waiting["status"] == "issuing" and waiting["licence"] is None
    resumed = approve(w, number)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["licence"] == issued.identifier
    assert resumed.json()["licence_created"] is False
    assert len(licences_of(w, number)) == 1


def test_a_failure_before_issuing_leaves_the_case_to_resume(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    number = reviewed(w)
    from elicence.issuer.service import IssuanceService

    real = IssuanceService.issue_draft

    def no_key(self: IssuanceService, *a: Any, **kw: Any) -> Any:
        raise KeyCustodyError("the department's key is not loaded")

    monkeypatch.setattr(IssuanceService, "issue_draft", no_key)
    assert approve(w, number).status_code == 503
    assert licences_of(w, number) == []
    monkeypatch.setattr(IssuanceService, "issue_draft", real)
    done = approve(w, number)
    assert done.status_code == 200 and done.json()["licence_created"] is True
    assert len(licences_of(w, number)) == 1


def test_concurrent_approvals_issue_one_licence(any_world: World) -> None:
    w = any_world
    number = reviewed(w)
    w.svc.signers()  # keys loaded: the threads race on the database, not on scrypt
    clerk = w.client("th_amr")
    barrier = threading.Barrier(4)

    def attempt() -> str:
        barrier.wait(timeout=30)
        try:
            w.svc.hall.approve(clerk, number)
        except Error as e:
            return e.code
        return "approved"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _i: attempt(), range(4)))
    assert "approved" in outcomes
    assert set(outcomes) <= {"approved", "illegal_transition"}, outcomes
    assert len(licences_of(w, number)) == 1
    assert w.svc.hall.case(clerk, number).status is CaseStatus.APPROVED


CHANGES: list[tuple[str, Callable[[World], None]]] = [
    (
        "revoked",
        lambda w: w.svc.change_status(
            w.client("th_amr"), w.idents["biz"], Action.REVOKE, reason="吊销"
        ),
    ),
    (
        "suspended",
        lambda w: w.svc.change_status(
            w.client("th_amr"), w.idents["biz"], Action.SUSPEND, reason="暂扣"
        ),
    ),
]


@pytest.mark.parametrize(("verdict", "change"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_cited_licence_is_verified_again_at_approval(
    any_world: World, verdict: str, change: Callable[[World], None]
) -> None:
    w = any_world
    number = reviewed(w)
    change(w)
    r = approve(w, number)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == f"cited_licence_{verdict}" and err["field"] == "citations[0]"
    case = w.api.get(f"/api/v1/cases/{number}", headers=w.h("th_amr")).json()
    assert case["status"] == "under_review" and licences_of(w, number) == []
    latest = w.svc.registry.usage(case_number=number)[0]
    assert latest["verdict"] == verdict and latest["client_id"] == w.client("th_amr").id


def test_a_decision_the_issuer_would_refuse_writes_nothing(any_world: World) -> None:
    w = any_world
    number = reviewed(w)
    r = approve(w, number, body={"valid_until": "2040-01-01"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "valid_until"
    r = approve(w, number, body={"data": {"favourite_dish": "炒粉"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "data.favourite_dish"
    case = w.api.get(f"/api/v1/cases/{number}", headers=w.h("th_amr")).json()
    assert case["status"] == "under_review" and licences_of(w, number) == []


def test_an_item_that_issues_nothing_is_approved_without_a_licence(any_world: World) -> None:
    w = any_world
    r = w.submit_fire_case()
    number = r.json()["number"]
    w.drive(number, "accept", "start-review", who="th_fire")
    done = approve(w, number, who="th_fire")
    assert done.status_code == 200 and done.json()["status"] == "approved"
    assert done.json()["licence"] is None and done.json()["licence_created"] is False


def test_only_the_handling_department_approves(any_world: World) -> None:
    w = any_world
    number = reviewed(w)
    for who, status in (
        ("hall", 403),
        ("admin", 403),
        ("gz_amr", 403),
        ("org", 403),
        ("org2", 404),
    ):
        r = approve(w, number, who=who)
        assert r.status_code == status, (who, r.text)
    assert licences_of(w, number) == []


def test_a_refusal_is_decided_with_its_reason(any_world: World) -> None:
    w = any_world
    number = reviewed(w)
    r = w.step("th_amr", number, "refuse", "经营场所不符合食品安全要求")
    assert r.json()["status"] == "refused" and r.json()["decided_at"]
    assert w.step("th_amr", number, "complete").json()["status"] == "completed"
    assert licences_of(w, number) == []


def test_a_licence_approved_without_a_number_is_numbered_by_the_issuer(any_world: World) -> None:
    """Not with the case number: the department's division, the year it is valid from and ten
    characters from the CSPRNG, as a department numbers its own (and each licence its own)."""
    w = any_world
    numbers = []
    for _ in range(2):
        number = reviewed(w)
        assert approve(w, number).status_code == 200
        [lic] = licences_of(w, number)
        assert lic.licence_number != number
        assert re.fullmatch(r"4401062026[0-9A-Z]{10}", lic.licence_number), lic.licence_number
        numbers.append(lic.licence_number)
    assert numbers[0] != numbers[1]
