"""``registry audit`` notices a stored record it cannot read (issue 16): rows written behind the
service's back are findings with the licence's identifier; the audit never crashes and never
says ok."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from tests.cli import cli
from tests.conftest import GZ_AMR, PASSPHRASE, food_permit


@dataclass(frozen=True)
class Damage:
    id: str
    sql: str  # :id is the licence's row id
    finding: str
    sqlite_only: bool = False


DAMAGE = [
    Damage(
        "json-with-a-lone-surrogate-escape",  # what the registry stored before issue 16
        """UPDATE licences SET data = '{"business_items": "\\ud800"}' WHERE id = :id""",
        "its text is not valid Unicode",
    ),
    Damage(
        "json-that-does-not-parse",
        "UPDATE licences SET data = '{\"business_items\": ' WHERE id = :id",
        "its JSON does not parse",
        sqlite_only=True,  # PostgreSQL's json column refuses it
    ),
    Damage(
        "text-that-is-not-utf-8",
        "UPDATE licences SET holder_name = CAST(X'e4b8ff' AS TEXT) WHERE id = :id",
        "its text is not valid UTF-8",
        sqlite_only=True,  # PostgreSQL refuses it
    ),
    Damage(
        "a-status-no-licence-has",
        "UPDATE licences SET status = 'zombie' WHERE id = :id",
        "a value is not one the registry writes",
    ),
    Damage(
        "a-seal-that-does-not-decode",
        "UPDATE licences SET seal = 'EL1:AAAA' WHERE id = :id",
        "its seal does not decode",
    ),
]


def _issue(svc: Elicence, n: int) -> list[str]:
    client = Client("t", "t", Role.DEPARTMENT, GZ_AMR)
    return [
        svc.licences.issue(client, food_permit(f"AUDIT-{i}")).licence.identifier for i in range(n)
    ]


def _damage(svc: Elicence, identifier: str, sql: str) -> None:
    with svc.registry.engine.begin() as conn:
        row_id = conn.execute(
            text("SELECT id FROM licences WHERE identifier = :i"), {"i": identifier}
        ).scalar_one()
        conn.execute(text(sql), {"id": row_id})


CASES = [
    pytest.param(database, d, id=f"{database}-{d.id}", marks=marks)
    for database, marks in (("sqlite", ()), ("postgres", (pytest.mark.postgres,)))
    for d in DAMAGE
    if database == "sqlite" or not d.sqlite_only
]


@pytest.mark.parametrize(("database", "damage"), CASES)
def test_the_audit_reports_a_licence_row_it_cannot_read(
    request: pytest.FixtureRequest, database: str, damage: Damage
) -> None:
    svc: Elicence = request.getfixturevalue("service" if database == "sqlite" else "pg_service")
    idents = _issue(svc, 3)
    assert svc.log.audit().ok
    _damage(svc, idents[1], damage.sql)
    report = svc.log.audit()
    assert not report.ok
    unreadable = [p for p in report.problems if "cannot be read" in p]
    assert len(unreadable) == 1, report.problems
    assert unreadable[0].startswith(f"licence {idents[1]} cannot be read: {damage.finding}")


def test_the_audit_command_reports_an_unreadable_row_and_exits_non_zero(
    service: Elicence, keys_dir: Path
) -> None:
    idents = _issue(service, 2)
    _damage(service, idents[0], DAMAGE[0].sql)
    env = {
        "ELICENCE_DATA_DIR": str(keys_dir.parent),
        "ELICENCE_DATABASE_URL": str(service.registry.engine.url),
        "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
    }
    result = cli(None, "registry", "audit", **env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1
    assert f"licence {idents[0]} cannot be read" in result.stdout
    assert "ok:" not in result.stdout
