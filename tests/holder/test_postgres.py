"""The holder side on PostgreSQL: grants decide what a hall sees, a presentation is accepted once
(the nonce table's primary key, shared by every worker), and the holder reads its usage records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.domain.clients import Role
from tests.conftest import GZ_AMR, food_permit
from tests.holder.conftest import ORG_X, holder_key

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_service: Elicence) -> Iterator[TestClient]:
    with TestClient(create_app(pg_service), raise_server_exceptions=False) as c:
        yield c


def test_grants_presentations_and_usage_on_postgresql(pg: TestClient, pg_service: Elicence) -> None:
    dept = pg_service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    hall = pg_service.clients.add(name="天河区政务服务中心", role=Role.HALL, department=None)
    hall_h = {"Authorization": f"Bearer {hall.api_key}"}
    r = pg.post(
        "/api/v1/licences", json=food_permit("PG-H-1"), headers={"Authorization": f"Bearer {dept}"}
    )
    assert r.status_code == 201, r.text
    lic = r.json()
    org = holder_key(pg_service, f"001:{ORG_X}")

    assert pg.post("/api/v1/verify", json={"seal": lic["seal"]}, headers=hall_h).json()["masked"]
    pg_service.clock.advance(seconds=1)  # type: ignore[attr-defined]
    g = pg.post(
        "/api/v1/grants",
        json={
            "identifier": lic["identifier"],
            "grantee": {"kind": "hall", "ref": hall.client.id},
            "purpose": "办理变更",
            "valid_until": "2026-12-28T00:00:00Z",
        },
        headers=org,
    )
    assert g.status_code == 201, g.text
    pg_service.clock.advance(seconds=1)  # type: ignore[attr-defined]
    assert not pg.post("/api/v1/verify", json={"seal": lic["seal"]}, headers=hall_h).json()[
        "masked"
    ]

    text = pg.get(f"/api/v1/licences/{lic['identifier']}/presentation", headers=org).json()[
        "presentation"
    ]
    first = pg.post("/api/v1/presentations/verify", json={"presentation": text}, headers=hall_h)
    assert first.json()["accepted"] is True, first.text
    assert first.json()["verification"]["masked"] is False  # the grant is in force
    second = pg.post("/api/v1/presentations/verify", json={"presentation": text}, headers=hall_h)
    assert second.json()["presentation"]["verdict"] == "replayed"

    pg_service.clock.advance(seconds=1)  # type: ignore[attr-defined]
    w = pg.post(f"/api/v1/grants/{g.json()['id']}/withdraw", headers=org)
    assert w.status_code == 200 and w.json()["state"] == "withdrawn"
    pg_service.clock.advance(seconds=1)  # type: ignore[attr-defined]
    assert pg.post("/api/v1/verify", json={"seal": lic["seal"]}, headers=hall_h).json()["masked"]

    usage = pg.get("/api/v1/usage", headers=org).json()
    assert [u["channel"] for u in usage] == ["seal", "presentation", "presentation", "seal", "seal"]
    assert [u["grant_id"] is not None for u in usage] == [False, True, True, True, False]
    assert {u["client_name"] for u in usage} == {"天河区政务服务中心"}


def test_an_anonymous_scan_does_not_use_up_the_live_code_on_postgresql(
    pg: TestClient, pg_service: Elicence
) -> None:
    """Issue 16: anonymous scan, then the hall's scan is accepted; the hall's second is replayed."""
    dept = pg_service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    hall = pg_service.clients.add(name="天河区政务服务中心", role=Role.HALL, department=None)
    hall_h = {"Authorization": f"Bearer {hall.api_key}"}
    r = pg.post(
        "/api/v1/licences", json=food_permit("PG-H-2"), headers={"Authorization": f"Bearer {dept}"}
    )
    assert r.status_code == 201, r.text
    org = holder_key(pg_service, f"001:{ORG_X}")
    text = pg.get(f"/api/v1/licences/{r.json()['identifier']}/presentation", headers=org).json()[
        "presentation"
    ]

    def scan(headers: dict[str, str]) -> str:
        out = pg.post("/api/v1/presentations/verify", json={"presentation": text}, headers=headers)
        assert out.status_code == 200, out.text
        verdict: str = out.json()["presentation"]["verdict"]
        return verdict

    assert [scan({}), scan({}), scan(hall_h), scan(hall_h), scan({})] == [
        "accepted",
        "accepted",
        "accepted",
        "replayed",
        "replayed",
    ]
