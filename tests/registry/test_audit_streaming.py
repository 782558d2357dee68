"""The audit at scale: replayed page by page into a scratch table and compared in the database.

The memory an audit of 1,000,000 licences takes is measured in bench/bench.py; here, that paging
changes nothing about what the audit finds.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from elicence.app import audit
from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.issuer.lifecycle import Action
from tests.conftest import GZ_AMR, food_permit

DEPT = Client("gz", "广州市市场监督管理局", Role.DEPARTMENT, GZ_AMR)


def _history(svc: Elicence) -> list[str]:
    """Licences whose events fall on different pages: amended twice, suspended, revoked."""
    idents = [svc.licences.issue(DEPT, food_permit(f"AS-{n}")).licence.identifier for n in range(6)]
    first = svc.licences.amend(
        DEPT, idents[0], {"licence_number": "JY1440106000A01"}, reason="变更"
    )
    assert first.new_version is not None
    second = svc.licences.amend(
        DEPT, first.new_version.identifier, {"licence_number": "JY1440106000A02"}, reason="变更"
    )
    assert second.new_version is not None
    svc.licences.change_status(DEPT, idents[1], Action.SUSPEND, reason="停业整顿")
    svc.licences.change_status(DEPT, idents[2], Action.REVOKE, reason="注销")
    svc.licences.change_status(DEPT, idents[1], Action.REINSTATE, reason="整改完成")
    svc.log.checkpoint()
    return [*idents, first.new_version.identifier, second.new_version.identifier]


@pytest.mark.parametrize("page", [1, 2, 5000], ids=["page-1", "page-2", "page-5000"])
def test_the_audit_agrees_with_the_log_whatever_its_page_size(
    service: Elicence, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    idents = _history(service)
    monkeypatch.setattr(audit, "PAGE", page)
    report = service.log.audit()
    assert report.ok, report.problems
    assert report.events == 11
    # the superseded versions keep the version that superseded them, across pages
    first = service.registry.licence(idents[0])
    assert first is not None and first.superseded_by == idents[6]


@pytest.mark.parametrize("page", [1, 5000], ids=["page-1", "page-5000"])
def test_a_status_changed_behind_the_log_is_found_whatever_the_page_size(
    service: Elicence, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    idents = _history(service)
    monkeypatch.setattr(audit, "PAGE", page)
    with service.registry.engine.begin() as c:
        c.execute(
            text(f"UPDATE licences SET superseded_by = NULL WHERE identifier = '{idents[0]}'")
        )
        c.execute(text(f"UPDATE licences SET status = 'valid' WHERE identifier = '{idents[2]}'"))
    report = service.log.audit()
    assert sorted(report.problems) == sorted(
        [
            f"licence {idents[0]} is superseded by nothing but the log says by {idents[6]}",
            f"licence {idents[2]} is valid but the log says revoked",
        ]
    )


def test_licences_without_events_and_events_without_licences_are_found(
    service: Elicence,
) -> None:
    idents = _history(service)
    with service.registry.engine.begin() as c:
        c.execute(text(f"DELETE FROM licences WHERE identifier = '{idents[3]}'"))
        c.execute(
            text(
                "INSERT INTO licences (identifier, serial, type_code, department, licence_number, "
                "holder_name, holder_id_type, holder_id, valid_from, data, status, version, "
                "issued_at, seal, kid) SELECT 'X' || identifier, serial, type_code, department, "
                "licence_number, holder_name, holder_id_type, holder_id, valid_from, data, status, "
                f"version, issued_at, seal, kid FROM licences WHERE identifier = '{idents[4]}'"
            )
        )
    problems = service.log.audit().problems
    assert f"the log names licence {idents[3]}, which the registry does not hold" in problems
    assert f"licence X{idents[4]} has no event in the log" in problems


def test_the_problems_listed_are_capped_and_the_rest_counted(
    service: Elicence, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        service.licences.issue(DEPT, food_permit(f"CAP-{n}"))
    with service.registry.engine.begin() as c:
        c.execute(text("UPDATE licences SET status = 'revoked'"))
    monkeypatch.setattr(audit, "MAX_PROBLEMS", 2)
    report = service.log.audit()
    assert not report.ok
    assert len(report.problems) == 3 and report.more_problems == 3
    assert report.problems[-1] == "… and 3 more problems"


def test_the_scratch_table_is_gone_after_the_audit(service: Elicence) -> None:
    _history(service)
    assert service.log.audit().ok
    assert service.log.audit().ok  # a second audit makes its scratch table again
    with service.registry.engine.connect() as c:
        tables = c.execute(text("SELECT name FROM sqlite_temp_master")).all()
    assert tables == []
