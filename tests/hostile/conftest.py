"""Fixtures of the hostile-input tests: the hall's world (licences, cases, every role) on SQLite
and PostgreSQL, and a count of every stored row to show that a refused request stored nothing.
"""

from __future__ import annotations

from sqlalchemy import MetaData, func, select

from elicence.app.service import Elicence
from tests.hall.conftest import World, any_world  # noqa: F401 - the hall's fixture, used here too

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
