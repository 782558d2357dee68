"""The registry on PostgreSQL: migrations, a round trip, and idempotency under real concurrency.

Every test here needs a PostgreSQL server (``postgres_url`` creates a throwaway database).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.errors import ConflictError
from elicence.issuer import IssuanceResult
from elicence.registry.migrate import MIGRATIONS, current
from tests.conftest import GZ_AMR, food_permit, race

pytestmark = pytest.mark.postgres

THREADS = 8


def _department(svc: Elicence, dept: str = GZ_AMR) -> Client:
    """A department client, with the signing keys loaded so that threads race on the database."""
    svc.keys.signers()
    return svc.clients.authenticate(
        svc.clients.add(name="广州市市场监督管理局", role=Role.DEPARTMENT, department=dept).api_key
    )


def _scalar(svc: Elicence, sql: str, **params: object) -> object:
    with svc.registry.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


@pytest.fixture
def pg_api(pg_service: Elicence) -> Iterator[TestClient]:
    with TestClient(create_app(pg_service), raise_server_exceptions=False) as client:
        yield client


def test_migrations_run_on_postgresql(pg_service: Elicence) -> None:
    engine = pg_service.registry.engine
    assert engine.dialect.name == "postgresql"
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert current(engine) == ScriptDirectory.from_config(cfg).get_current_head()
    pg_service.registry.upgrade()  # idempotent
    assert current(engine) == ScriptDirectory.from_config(cfg).get_current_head()
    insp = inspect(engine)
    assert {
        "licences",
        "events",
        "usage_records",
        "api_clients",
        "catalogue_versions",
        "alembic_version",
    } <= set(insp.get_table_names())
    uniques = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("licences")}
    assert uniques["uq_licences_department_source_ref"] == ["department", "source_ref"]
    indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("licences")}
    assert indexes["ix_licences_holder"] == ["holder_id_type", "holder_id", "issued_at"]
    issued_at = next(c for c in insp.get_columns("licences") if c["name"] == "issued_at")
    assert getattr(issued_at["type"], "timezone", False) is True
    assert pg_service.registry.catalogue_version() is not None


def test_issue_and_verify_round_trip_on_postgresql(
    pg_api: TestClient, pg_service: Elicence
) -> None:
    key = pg_service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    hall = pg_service.clients.add(name="hall", role=Role.HALL, department=None)
    auth = {"Authorization": f"Bearer {key}"}
    r = pg_api.post("/api/v1/licences", json=food_permit(), headers=auth)
    assert r.status_code == 201, r.text
    issued = r.json()
    again = pg_api.post("/api/v1/licences", json=food_permit(), headers=auth)
    assert again.status_code == 200
    assert again.json()["identifier"] == issued["identifier"]

    got = pg_api.get(f"/api/v1/licences/{issued['identifier']}", headers=auth)
    assert got.status_code == 200
    assert got.json()["issued_at"] == issued["issued_at"]  # a timezone-aware round trip
    assert got.json()["data"] == issued["data"]

    v = pg_api.post(
        "/api/v1/verify",
        json={"seal": issued["verification_url"]},
        headers={"Authorization": f"Bearer {hall.api_key}"},
    )
    assert v.status_code == 200, v.text
    assert v.json()["verdict"] == "valid"
    assert all(c["passed"] for c in v.json()["checks"])
    by_id = pg_api.post("/api/v1/verify", json={"identifier": issued["identifier"]})
    assert by_id.json()["verdict"] == "valid"

    found = pg_api.get(
        "/api/v1/licences",
        params={"holder_id_type": "001", "holder_id": "91350100M000100Y43"},
        headers=auth,
    )
    assert [x["identifier"] for x in found.json()] == [issued["identifier"]]
    usage = pg_service.registry.usage(identifier=issued["identifier"])
    assert [u["client_id"] for u in usage] == [None, hall.client.id]
    assert pg_service.registry.count_licences() == 1
    assert len(pg_service.registry.events()) == 1


def test_concurrent_identical_requests_make_exactly_one_licence(pg_service: Elicence) -> None:
    client = _department(pg_service)
    body = food_permit("PG-RACE-1")
    results = race([lambda: pg_service.licences.issue(client, body) for _ in range(THREADS)])

    assert all(isinstance(r, IssuanceResult) for r in results), results
    issued = [r for r in results if isinstance(r, IssuanceResult)]
    assert sum(r.created for r in issued) == 1
    identifiers = {r.licence.identifier for r in issued}
    assert len(identifiers) == 1
    assert len({r.licence.seal for r in issued}) == 1
    (ident,) = identifiers
    assert _scalar(pg_service, "SELECT count(*) FROM licences") == 1
    assert _scalar(pg_service, "SELECT count(*) FROM licences WHERE identifier = :i", i=ident) == 1
    assert _scalar(pg_service, "SELECT count(*) FROM events") == 1
    assert _scalar(pg_service, "SELECT identifier FROM events") == ident


def test_concurrent_different_bodies_under_one_source_ref(pg_service: Elicence) -> None:
    client = _department(pg_service)
    bodies = [
        food_permit("PG-RACE-2", licence_number=f"JY144010600{n:05d}") for n in range(THREADS)
    ]
    results = race([functools.partial(pg_service.licences.issue, client, b) for b in bodies])

    winners = [r for r in results if isinstance(r, IssuanceResult)]
    losers = [r for r in results if not isinstance(r, IssuanceResult)]
    assert len(winners) == 1, results
    assert winners[0].created is True
    assert len(losers) == THREADS - 1
    assert all(isinstance(e, ConflictError) for e in losers), losers
    assert {e.code for e in losers} == {"source_ref_conflict"}
    assert all(winners[0].licence.identifier in e.message for e in losers)
    assert _scalar(pg_service, "SELECT count(*) FROM licences") == 1
    assert _scalar(pg_service, "SELECT count(*) FROM events") == 1
    stored = pg_service.registry.licence(winners[0].licence.identifier)
    assert stored is not None
    assert stored.licence_number == winners[0].licence.licence_number


def test_batch_on_postgresql(pg_service: Elicence) -> None:
    client = _department(pg_service)
    bad = food_permit("PG-B-BAD")
    bad["holder"] = {**bad["holder"], "id_number": "91350100M000100Y44"}  # type: ignore[dict-item]
    items = [food_permit(f"PG-B-{n}", licence_number=f"JY{n:06d}") for n in range(50)]
    items.insert(10, bad)
    items.append(food_permit("PG-B-3", licence_number="JY000003"))  # in-batch twin
    results = pg_service.licences.issue_batch(client, items)

    assert len(results) == 52
    created = [r for r in results if r.result is not None and r.result.created]
    existing = [r for r in results if r.result is not None and not r.result.created]
    failed = [r for r in results if r.error is not None]
    assert (len(created), len(existing), len(failed)) == (50, 1, 1)
    assert failed[0].index == 10
    assert failed[0].error is not None and failed[0].error.field == "holder.id_number"
    assert existing[0].index == 51
    assert existing[0].result is not None
    assert existing[0].result.licence.source_ref == "PG-B-3"
    assert _scalar(pg_service, "SELECT count(*) FROM licences") == 50
    assert _scalar(pg_service, "SELECT count(*) FROM events") == 50

    again = pg_service.licences.issue_batch(client, items)
    assert sum(r.result is not None and r.result.created for r in again) == 0
    assert sum(r.result is not None and not r.result.created for r in again) == 51
    assert _scalar(pg_service, "SELECT count(*) FROM licences") == 50


def test_concurrent_overlapping_batches_store_each_source_ref_once(
    pg_service: Elicence,
) -> None:
    client = _department(pg_service)
    items = [food_permit(f"PG-CB-{n}", licence_number=f"JY{n:06d}") for n in range(40)]
    results = race([lambda: pg_service.licences.issue_batch(client, items) for _ in range(4)])

    assert all(isinstance(r, list) for r in results), results
    per_ref: dict[int, set[str]] = {}
    created = 0
    for batch in results:
        assert isinstance(batch, list)
        for item in batch:
            assert item.error is None, item.error
            assert item.result is not None
            created += item.result.created
            per_ref.setdefault(item.index, set()).add(item.result.licence.identifier)
    assert created == 40
    assert all(len(idents) == 1 for idents in per_ref.values())
    assert _scalar(pg_service, "SELECT count(*) FROM licences") == 40
    assert _scalar(pg_service, "SELECT count(*) FROM events") == 40
