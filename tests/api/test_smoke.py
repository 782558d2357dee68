from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ApiKeys, food_permit


def test_issue_then_verify_round_trip(api: TestClient, api_keys: ApiKeys) -> None:
    r = api.post("/api/v1/licences", json=food_permit(), headers=api_keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["verification_url"].startswith("https://hall.example.gov.cn/v#EL1:")
    v = api.post("/api/v1/verify", json={"seal": issued["verification_url"]})
    assert v.status_code == 200
    assert v.json()["verdict"] == "valid"
    assert all(c["passed"] for c in v.json()["checks"])
