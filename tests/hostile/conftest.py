"""Fixtures of the hostile-input tests: the hall's world (licences, cases, every role) on SQLite
and PostgreSQL, and a count of every stored row to show that a refused request stored nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, func, select

from elicence.api.app import create_app
from elicence.app.service import Elicence
from tests.hall.conftest import World, build_world

# Tables a refused request may still write, by design: the audit trail records refused
# privileged actions (docs/abuse.md) and usage records record refused verifications.
RECORDS_OF_ATTEMPTS = frozenset({"audit_trail", "usage_records", "alembic_version"})


def row_counts(svc: Elicence) -> dict[str, int]:
    """Rows in every table of the registry (but the records of attempts)."""
    svc.flush()  # usage records written behind the request
    engine = svc.registry.engine
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in meta.tables.items()
            if name not in RECORDS_OF_ATTEMPTS
        }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest) -> Iterator[World]:
    """The hall's world on SQLite, then on PostgreSQL."""
    svc: Elicence = request.getfixturevalue(
        "service" if request.param == "sqlite" else "pg_service"
    )
    with TestClient(create_app(svc), raise_server_exceptions=False) as api:
        yield build_world(svc, api)
