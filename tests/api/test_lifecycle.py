"""Lifecycle through the API: revoke, suspend, reinstate, amend, renew, bulk; verdicts for each.

Every change is one chained event naming its actor and reason; illegal transitions are 409 with
the reason, another department's licence 403.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.domain.codes import parse_identifier
from tests.conftest import ApiKeys, Clock, food_permit, marriage

URL = "/api/v1/licences"


def issue(api: TestClient, keys: ApiKeys, body: dict[str, object] | None = None) -> Any:
    r = api.post(URL, json=body or food_permit(), headers=keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    return r.json()


def act(
    api: TestClient, keys: ApiKeys, ident: str, action: str, who: str = "gz_amr", **body: object
) -> Any:
    return api.post(f"{URL}/{ident}/{action}", json={"reason": "测试", **body}, headers=keys.h(who))


def verdicts(api: TestClient, seal: str, ident: str) -> tuple[str, str]:
    by_seal = api.post("/api/v1/verify", json={"seal": seal}).json()["verdict"]
    by_id = api.post("/api/v1/verify", json={"identifier": ident}).json()["verdict"]
    return by_seal, by_id


def test_suspend_reinstate_revoke_and_the_verdicts(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    lic = issue(api, api_keys)
    ident, seal = lic["identifier"], lic["seal"]
    assert verdicts(api, seal, ident) == ("valid", "valid")

    r = act(api, api_keys, ident, "suspend")
    assert r.status_code == 200, r.text
    assert r.json()["licence"]["status"] == "suspended"
    assert verdicts(api, seal, ident) == ("suspended", "suspended")

    assert act(api, api_keys, ident, "reinstate").json()["licence"]["status"] == "valid"
    assert verdicts(api, seal, ident) == ("valid", "valid")

    assert act(api, api_keys, ident, "revoke").json()["licence"]["status"] == "revoked"
    assert verdicts(api, seal, ident) == ("revoked", "revoked")

    events = service.registry.events(limit=100)
    assert [e.kind for e in events] == ["issued", "suspended", "reinstated", "revoked"]
    gz = next(c for c in service.registry.clients() if c.department == lic["department"])
    assert {e.actor for e in events} == {gz.id}
    assert events[3].detail == {"reason": "测试", "from": "valid", "to": "revoked"}
    assert service.log.audit().ok


@pytest.mark.parametrize(
    ("steps", "action", "why"),
    [
        (["revoke"], "reinstate", "revoked (注销), which is final"),
        (["revoke"], "revoke", "revoked (注销), which is final"),
        (["revoke"], "amend", "revoked (注销), which is final"),
        ([], "reinstate", "not suspended"),
        (["suspend"], "suspend", "already suspended"),
        (["suspend"], "renew", "reinstate it before you renew it"),
        (["amend"], "amend", "superseded by"),
        (["amend"], "revoke", "superseded by"),
    ],
    ids=[
        "reinstate-revoked",
        "revoke-revoked",
        "amend-revoked",
        "reinstate-valid",
        "suspend-suspended",
        "renew-suspended",
        "amend-superseded",
        "revoke-superseded",
    ],
)
def test_illegal_transitions_are_409_and_say_why(
    api: TestClient, api_keys: ApiKeys, service: Elicence, steps: list[str], action: str, why: str
) -> None:
    ident = issue(api, api_keys)["identifier"]
    amend_body = {"changes": {"licence_number": "JY14401060000999"}}
    for step in steps:
        r = act(api, api_keys, ident, step, **(amend_body if step == "amend" else {}))
        assert r.status_code in (200, 201), r.text
    before = len(service.registry.events(limit=100))
    r = act(api, api_keys, ident, action, **(amend_body if action == "amend" else {}))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "illegal_transition"
    assert why in r.json()["error"]["message"]
    assert len(service.registry.events(limit=100)) == before  # nothing recorded


def test_another_department_is_403_and_halls_may_not_act(
    api: TestClient, api_keys: ApiKeys
) -> None:
    ident = issue(api, api_keys)["identifier"]
    r = act(api, api_keys, ident, "revoke", who="sz_amr")
    assert r.status_code == 403
    assert "only its issuing department" in r.json()["error"]["message"]
    assert act(api, api_keys, ident, "revoke", who="hall").status_code == 403
    assert act(api, api_keys, ident, "revoke", who="admin").status_code == 200  # an admin may


@pytest.mark.parametrize(
    ("ident", "body", "status", "field"),
    [
        (
            "1.2.156.3005.2.11100000000013338W011.11440100MB2D00002M.AAAAAAAAAAAAAAAA.001.0",
            {"reason": "x"},
            422,
            "identifier",
        ),
        ("not-an-identifier", {"reason": "x"}, 422, "identifier"),
        ("VALID", {"reason": "  "}, 422, "reason"),
        ("VALID", {}, 422, "reason"),
        ("VALID", {"reason": "x" * 501}, 422, "reason"),
        ("UNKNOWN", {"reason": "x"}, 404, "identifier"),
    ],
    ids=["wrong-check-char", "garbage", "blank-reason", "no-reason", "long-reason", "unknown"],
)
def test_bad_lifecycle_input(
    api: TestClient, api_keys: ApiKeys, ident: str, body: dict[str, object], status: int, field: str
) -> None:
    issued = issue(api, api_keys)["identifier"]
    if ident == "VALID":
        ident = issued
    elif ident == "UNKNOWN":
        parsed = parse_identifier(issued)
        ident = str(type(parsed)(parsed.type_code, parsed.issuer_code, "ZZZZZZZZZZZZZZZZ", 1))
    r = api.post(f"{URL}/{ident}/revoke", json=body, headers=api_keys.h("gz_amr"))
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_amend_makes_a_new_version_and_supersedes_the_old(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    old = issue(api, api_keys)
    r = act(
        api,
        api_keys,
        old["identifier"],
        "amend",
        changes={
            "holder_name": "广州市天河区新名餐饮管理有限公司",
            "data": {"legal_representative": "李四"},
        },
    )
    assert r.status_code == 201, r.text
    new = r.json()["new_version"]
    assert r.json()["licence"]["status"] == "superseded"
    assert r.json()["licence"]["superseded_by"] == new["identifier"]
    old_id, new_id = parse_identifier(old["identifier"]), parse_identifier(new["identifier"])
    assert (new_id.serial, new_id.version) == (old_id.serial, 2)
    assert new["identifier"].split(".")[-2] == "002"
    assert new["seal"] != old["seal"]
    assert new["holder"]["name"] == "广州市天河区新名餐饮管理有限公司"
    assert new["data"]["legal_representative"] == "李四"
    assert new["data"]["residence"] == old["data"]["residence"]  # unchanged items carried over

    v = api.post("/api/v1/verify", json={"seal": old["seal"]}).json()
    assert v["verdict"] == "superseded"
    assert v["superseded_by"] == new["identifier"]
    assert verdicts(api, old["seal"], old["identifier"]) == ("superseded", "superseded")
    assert verdicts(api, new["seal"], new["identifier"]) == ("valid", "valid")

    last = service.registry.events(limit=10)[-1]
    assert (last.kind, last.identifier) == ("amended", new["identifier"])
    assert last.detail["supersedes"] == old["identifier"]
    assert last.detail["seal"] == new["seal"]
    assert service.log.audit().ok


def test_amend_is_checked_like_an_issuance(api: TestClient, api_keys: ApiKeys) -> None:
    ident = issue(api, api_keys)["identifier"]
    r = act(api, api_keys, ident, "amend", changes={"valid_until": "2099-01-01"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "valid_until"
    r = act(api, api_keys, ident, "amend", changes={"holder_id": "x"})
    assert r.status_code == 422


def test_renew_uses_the_catalogue_rule_and_expiry_needs_no_action(
    api: TestClient, api_keys: ApiKeys, clock: Clock
) -> None:
    old = issue(api, api_keys, food_permit(valid_until="2027-01-31"))  # rule 5/Y allows less
    clock.advance(days=70)  # 2027-02-06: past the last day, expired, and nobody acted
    assert verdicts(api, old["seal"], old["identifier"]) == ("expired", "expired")
    got = api.get(f"{URL}/{old['identifier']}", headers=api_keys.h("gz_amr")).json()
    assert got["status"] == "expired"

    r = act(api, api_keys, old["identifier"], "renew")
    assert r.status_code == 201, r.text
    new = r.json()["new_version"]
    today = clock.now.date().isoformat()
    assert new["valid_from"] == today
    assert (today, new["valid_until"]) == ("2027-02-06", "2032-02-05")  # 5/Y from today
    assert verdicts(api, new["seal"], new["identifier"]) == ("valid", "valid")
    assert verdicts(api, old["seal"], old["identifier"])[0] == "superseded"


def test_long_term_licences_cannot_be_renewed(api: TestClient, api_keys: ApiKeys) -> None:
    r = api.post(URL, json=marriage(), headers=api_keys.h("th_civil"))
    assert r.status_code == 201, r.text
    r = act(api, api_keys, r.json()["identifier"], "renew", who="th_civil")
    assert r.status_code == 409
    assert "long-term" in r.json()["error"]["message"]


def test_bulk_revoke_every_licence_of_a_holder_atomically(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    mine = [
        issue(api, api_keys, food_permit(f"B-{n}", licence_number=f"JY{n:06d}"))["identifier"]
        for n in range(5)
    ]
    other_holder = food_permit("B-X")
    other_holder["holder"] = {
        "name": "别家公司",
        "id_type": "001",
        "id_number": "91440101MA59TK3R7Y",
    }
    other = issue(api, api_keys, other_holder)["identifier"]
    act(api, api_keys, mine[0], "revoke")  # already revoked: not touched again
    before = len(service.registry.events(limit=100))

    r = api.post(
        f"{URL}/bulk",
        json={
            "action": "revoke",
            "reason": "吊销营业执照",
            "holder": {"id_type": "001", "id_number": "91350100M000100Y43"},
        },
        headers=api_keys.h("gz_amr"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == 4
    assert {x["identifier"] for x in r.json()["licences"]} == set(mine[1:])
    events = service.registry.events(after=before, limit=100)
    assert sorted(e.identifier for e in events) == sorted(mine[1:])
    assert all(e.kind == "revoked" for e in events)
    assert all(service.registry.licence(i).status == "revoked" for i in mine)  # type: ignore[union-attr]
    assert service.registry.licence(other).status == "valid"  # type: ignore[union-attr]
    assert service.log.audit().ok


def test_bulk_by_identifiers_is_all_or_nothing(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    idents = [
        issue(api, api_keys, food_permit(f"C-{n}", licence_number=f"JY{n:06d}"))["identifier"]
        for n in range(3)
    ]
    act(api, api_keys, idents[2], "revoke")
    before = len(service.registry.events(limit=100))
    body = {"action": "suspend", "reason": "检查", "identifiers": idents}
    r = api.post(f"{URL}/bulk", json=body, headers=api_keys.h("gz_amr"))
    assert r.status_code == 409
    assert idents[2] in r.json()["error"]["message"]
    assert len(service.registry.events(limit=100)) == before
    assert service.registry.licence(idents[0]).status == "valid"  # type: ignore[union-attr]

    body["identifiers"] = idents[:2]
    r = api.post(f"{URL}/bulk", json=body, headers=api_keys.h("gz_amr"))
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == 2
    assert r.json()["licences"][0]["status"] == "suspended"
    r = api.post(f"{URL}/bulk", json=body, headers=api_keys.h("sz_amr"))
    assert r.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"action": "amend", "reason": "x", "identifiers": ["a"]},
        {"action": "revoke", "reason": "x"},
        {"action": "revoke", "reason": "x", "identifiers": []},
        {"action": "revoke", "reason": "x", "identifiers": ["x"] * 1001},
    ],
    ids=["not-a-status-action", "no-selector", "empty-list", "too-many"],
)
def test_bulk_bad_input(api: TestClient, api_keys: ApiKeys, body: dict[str, object]) -> None:
    r = api.post(f"{URL}/bulk", json=body, headers=api_keys.h("gz_amr"))
    assert r.status_code == 422, r.text
