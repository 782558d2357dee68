"""The audit trail: every privileged action writes one record (successes and refusals), with
the actor, target, outcome, request id and address; issuance does not; admins (and the command
line) read it; nobody changes it (database triggers, SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.app.trail import CONTEXT, RequestContext
from elicence.domain.clients import Role
from elicence.domain.trailquery import TrailQuery
from elicence.errors import InputError
from elicence.issuer.lifecycle import Action
from elicence.registry.trail import TrailRecord
from tests.cli import cli
from tests.conftest import GZ_AMR, NOW, SZ_AMR, ApiKeys, food_permit

LICENCES = "/api/v1/licences"
TRAIL = "/api/v1/audit-trail"


def _issue(api: TestClient, keys: ApiKeys, ref: str = "GZ-1") -> str:
    r = api.post(LICENCES, json=food_permit(ref), headers=keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    return str(r.json()["identifier"])


def _records(svc: Elicence, **filters: Any) -> list[TrailRecord]:
    return svc.trail.records(None, TrailQuery(**filters))


def test_lifecycle_changes_are_recorded_with_request_id_and_address(
    service: Elicence, api_keys: ApiKeys
) -> None:
    with TestClient(
        create_app(service), raise_server_exceptions=False, client=("203.0.113.7", 4000)
    ) as api:
        ident = _issue(api, api_keys)
        assert _records(service, action="licence") == []  # issuance is not a trail action
        r = api.post(
            f"{LICENCES}/{ident}/suspend",
            json={"reason": "inspection"},
            headers={**api_keys.h("gz_amr"), "X-Request-ID": "req-1"},
        )
        assert r.status_code == 200, r.text
        # another department may not: refused, and recorded as refused
        r = api.post(
            f"{LICENCES}/{ident}/revoke", json={"reason": "x"}, headers=api_keys.h("sz_amr")
        )
        assert r.status_code in (403, 404)
        # an illegal transition: refused (409)
        r = api.post(
            f"{LICENCES}/{ident}/suspend", json={"reason": "again"}, headers=api_keys.h("gz_amr")
        )
        assert r.status_code == 409
    ok, other, illegal = _records(service, target=ident)
    gz = service.clients.authenticate(api_keys.gz_amr)
    assert (ok.action, ok.outcome, ok.actor, ok.role) == (
        "licence.suspend",
        "ok",
        gz.id,
        "department",
    )
    assert ok.request_id == "req-1" and ok.address == "203.0.113.7"
    assert ok.detail["reason"] == "inspection" and ok.detail["status"] == "suspended"
    assert ok.at == NOW
    assert (other.action, other.outcome) == ("licence.revoke", "refused")
    assert other.detail["error"]["code"] == "not_issuing_department"
    assert other.actor == service.clients.authenticate(api_keys.sz_amr).id
    assert (illegal.outcome, illegal.detail["error"]["code"]) == ("refused", "illegal_transition")
    assert len(illegal.request_id or "") == 32  # made by the service: none was given
    # the event log holds the change itself, once
    events = [e for e in service.registry.events(limit=100) if e.identifier == ident]
    assert [e.kind for e in events] == ["issued", "suspended"]


def _amend(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.licences.amend(
        svc.clients.authenticate(keys.gz_amr), ident, {"licence_number": "JY2"}, reason="typo"
    )


def _renew(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.licences.renew(svc.clients.authenticate(keys.admin), ident, reason="renewal")


def _bulk(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.licences.bulk_change(
        svc.clients.authenticate(keys.admin), Action.SUSPEND, reason="audit", identifiers=[ident]
    )


def _pdf_by_admin(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.licences.pdf(svc.clients.authenticate(keys.admin), ident)


def _client_add(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.clients.add(name="new hall", role=Role.HALL, department=None)


def _client_rotate(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.clients.rotate(svc.clients.authenticate(keys.hall).id, overlap=dt.timedelta(hours=1))


def _client_disable(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.clients.disable(svc.clients.authenticate(keys.hall).id)


def _keys_rotate(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.keys.rotate(SZ_AMR)


def _keys_compromise(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.keys.compromise(SZ_AMR, since=NOW - dt.timedelta(hours=1))


def _keys_init(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.keys.init()


def _catalogue_import(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.import_catalogue(svc.catalogue())


def _backup(svc: Elicence, keys: ApiKeys, ident: str) -> None:
    svc.backups.create(Path(svc.registry.engine.url.database or "").parent / "backup")


@pytest.mark.parametrize(
    ("act", "action", "target"),
    [
        pytest.param(_amend, "licence.amend", "licence", id="amend"),
        pytest.param(_renew, "licence.renew", "licence", id="renew-by-admin"),
        pytest.param(_bulk, "licence.bulk", None, id="bulk"),
        pytest.param(_pdf_by_admin, "licence.pdf", "licence", id="pdf-by-admin"),
        pytest.param(_client_add, "client.add", None, id="client-add"),
        pytest.param(_client_rotate, "client.rotate", "hall", id="client-rotate"),
        pytest.param(_client_disable, "client.disable", "hall", id="client-disable"),
        pytest.param(_keys_rotate, "keys.rotate", SZ_AMR, id="keys-rotate"),
        pytest.param(_keys_compromise, "keys.compromise", SZ_AMR, id="keys-compromise"),
        pytest.param(_keys_init, "keys.init", None, id="keys-init"),
        pytest.param(_catalogue_import, "catalogue.import", None, id="catalogue-import"),
        pytest.param(_backup, "backup.create", None, id="backup-create"),
    ],
)
def test_each_privileged_action_writes_one_record(
    service: Elicence,
    api: TestClient,
    api_keys: ApiKeys,
    act: Callable[[Elicence, ApiKeys, str], None],
    action: str,
    target: str | None,
) -> None:
    ident = _issue(api, api_keys)
    before = _records(service)
    token = CONTEXT.set(RequestContext(actor="cli:tester"))
    try:
        act(service, api_keys, ident)
    finally:
        CONTEXT.reset(token)
    new = [r for r in _records(service) if r not in before and r.action == action]
    assert len(new) == 1, new
    record = new[0]
    assert record.outcome == "ok"
    assert record.actor == "cli:tester"
    if target == "licence":
        assert record.target == ident
    elif target == "hall":
        assert record.target == next(c.id for c in service.clients.all() if c.role == "hall")
    elif target is not None:
        assert record.target == target


def test_a_department_downloading_its_own_pdf_is_not_a_trail_action(
    service: Elicence, api: TestClient, api_keys: ApiKeys
) -> None:
    ident = _issue(api, api_keys)
    assert api.get(f"{LICENCES}/{ident}/pdf", headers=api_keys.h("gz_amr")).status_code == 200
    assert _records(service, action="licence.pdf") == []
    assert api.get(f"{LICENCES}/{ident}/pdf", headers=api_keys.h("admin")).status_code == 200
    (record,) = _records(service, action="licence.pdf")
    assert record.role == "admin" and record.target == ident


def test_admins_read_the_trail_over_http_and_others_may_not(
    service: Elicence, api: TestClient, api_keys: ApiKeys
) -> None:
    ident = _issue(api, api_keys)
    for reason in ("one", "two"):
        api.post(
            f"{LICENCES}/{ident}/suspend", json={"reason": reason}, headers=api_keys.h("gz_amr")
        )
    r = api.get(TRAIL, params={"action": "licence.suspend"}, headers=api_keys.h("admin"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert [(x["outcome"], x["detail"]["reason"]) for x in page["records"]] == [
        ("ok", "one"),
        ("refused", "two"),
    ]
    assert page["next_after"] == page["records"][-1]["id"]
    r = api.get(TRAIL, params={"after": page["next_after"]}, headers=api_keys.h("admin"))
    assert r.json() == {"records": [], "next_after": page["next_after"]}
    r = api.get(TRAIL, params={"outcome": "refused"}, headers=api_keys.h("admin"))
    assert [x["detail"]["reason"] for x in r.json()["records"]] == ["two"]
    for who in ("gz_amr", "hall"):
        r = api.get(TRAIL, headers=api_keys.h(who))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert api.get(TRAIL).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"limit": 0}, "limit", id="limit-zero"),
        pytest.param({"limit": 1001}, "limit", id="limit-too-big"),
        pytest.param({"after": -1}, "after", id="after-negative"),
        pytest.param({"outcome": "maybe"}, "outcome", id="unknown-outcome"),
        pytest.param({"since": "2026-11-28T00:00:00"}, "since", id="since-without-zone"),
        pytest.param({"until": "yesterday"}, "until", id="until-not-a-time"),
    ],
)
def test_bad_trail_queries_are_4xx_naming_the_field(
    api: TestClient, api_keys: ApiKeys, params: dict[str, object], field: str
) -> None:
    r = api.get(TRAIL, params=params, headers=api_keys.h("admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_the_trail_is_append_only_in_the_database(service: Elicence) -> None:
    service.clients.add(name="someone", role=Role.HALL, department=None)
    with pytest.raises(DBAPIError, match="append-only"), service.registry.engine.begin() as c:
        c.execute(text("UPDATE audit_trail SET outcome = 'ok'"))
    with pytest.raises(DBAPIError, match="append-only"), service.registry.engine.begin() as c:
        c.execute(text("DELETE FROM audit_trail"))
    assert len(_records(service)) == 1


@pytest.mark.postgres
def test_the_trail_is_append_only_on_postgresql(pg_service: Elicence) -> None:
    pg_service.clients.add(name="someone", role=Role.HALL, department=None)
    with pytest.raises(DBAPIError, match="append-only"), pg_service.registry.engine.begin() as c:
        c.execute(text("UPDATE audit_trail SET actor = 'nobody'"))
    with pytest.raises(DBAPIError, match="append-only"), pg_service.registry.engine.begin() as c:
        c.execute(text("DELETE FROM audit_trail"))
    (record,) = _records(pg_service)
    assert record.action == "client.add" and record.actor != "nobody"


def test_the_command_line_records_its_operator_and_lists_the_trail(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, "init").exit_code == 0
    r = cli(data, "keys", "rotate", GZ_AMR)
    assert r.exit_code == 0, r.stderr
    r = cli(data, "keys", "rotate", "not-a-uscc")
    assert r.exit_code == 2
    r = cli(data, "trail", "list", "--action", "keys")
    assert r.exit_code == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if "keys." in ln]
    assert any("ok" in ln and "keys.rotate" in ln and GZ_AMR in ln for ln in lines)
    assert any("refused" in ln and "keys.rotate" in ln for ln in lines)
    assert all(" by cli:" in ln for ln in lines)
    r = cli(data, "trail", "list", "--json", "--outcome", "refused")
    assert r.exit_code == 0
    assert '"code": "invalid_input"' in r.stdout
    r = cli(data, "trail", "list", "--since", "yesterday")
    assert r.exit_code == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (TrailQuery(after=-1), "after"),
        (TrailQuery(limit=0), "limit"),
        (TrailQuery(limit=1001), "limit"),
        (TrailQuery(outcome="maybe"), "outcome"),
        (TrailQuery(since=dt.datetime(2026, 11, 28)), "since"),
        (TrailQuery(until=dt.datetime(2026, 11, 28)), "until"),
    ],
    ids=[
        "after-negative",
        "limit-zero",
        "limit-over",
        "outcome-unknown",
        "since-naive",
        "until-naive",
    ],
)
def test_a_trail_query_names_the_field_that_breaks_its_rule(query: TrailQuery, field: str) -> None:
    with pytest.raises(InputError) as e:
        query.checked()
    assert e.value.field == field
    assert TrailQuery(limit=1000, outcome="refused").checked().limit == 1000  # the bounds hold
