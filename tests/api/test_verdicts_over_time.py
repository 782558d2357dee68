"""Verdicts that are right over time (issue 16 §1), on SQLite and PostgreSQL.

- An early renewal takes effect when it is made: the old version is superseded at once and the
  new one is in force from that day (China time), so a renewed licence has exactly one version
  in force at every instant — in the registry, by seal and by identifier, in the signed status
  lists and in the feed. Checked the day before, of and after the hand-over.
- A genuine licence whose first day is ahead is ``not_yet_valid`` (not ``invalid``), the least
  grave verdict: any other failure outweighs it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.domain.licence import CHINA_TZ
from elicence.formats.statuslist import Purpose
from elicence.formats.trustlist import verify_trust_list
from elicence.verifier import (
    OfflineStatus,
    UnsafeSkipStatusCheck,
    Verdict,
    verify_seal,
    verify_status_list,
)
from tests.conftest import GZ_AMR, ApiKeys, Clock, food_permit

URL = "/api/v1/licences"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, ApiKeys, Elicence]]:
    """The API over SQLite, then over PostgreSQL, with a department and a hall key."""
    svc: Elicence = request.getfixturevalue(
        "service" if request.param == "sqlite" else "pg_service"
    )

    def add(name: str, role: Any, dept: str | None = None) -> str:
        return svc.clients.add(name=name, role=role, department=dept).api_key

    from elicence.domain.clients import Role

    keys = ApiKeys(
        gz_amr=add("广州市市场监督管理局", Role.DEPARTMENT, GZ_AMR),
        sz_amr="",
        th_civil="",
        hall=add("天河区政务服务中心", Role.HALL),
        admin=add("operator", Role.ADMIN),
    )
    with TestClient(create_app(svc), raise_server_exceptions=False) as api:
        yield api, keys, svc


def china(day: str, time: str) -> dt.datetime:
    """An instant given as a Beijing date and time, in UTC."""
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=CHINA_TZ).astimezone(dt.UTC)


def _verdicts(api: TestClient, lic: dict[str, Any]) -> tuple[str, str]:
    by_seal = api.post("/api/v1/verify", json={"seal": lic["seal"]}).json()["verdict"]
    by_id = api.post("/api/v1/verify", json={"identifier": lic["identifier"]}).json()["verdict"]
    return by_seal, by_id


def _offline(api: TestClient, seal: str, now: dt.datetime) -> Verdict:
    """The verdict of a hall verifying offline with the lists it downloads now."""
    root = x509.load_pem_x509_certificate(api.get("/api/v1/root.crt").content)
    trust_list = verify_trust_list(api.get("/api/v1/trust-list.cose").content, root=root)
    lists = [
        verify_status_list(api.get(f"/api/v1/status-lists/{GZ_AMR}/{p}").content, trust_list)
        for p in Purpose
    ]
    return verify_seal(seal, trust_list=trust_list, status=OfflineStatus(lists), now=now).verdict


# -- early renewal -------------------------------------------------------------------------------

HAND_OVER = "2026-12-01"  # the day the renewal is made (Beijing)


@pytest.mark.parametrize(
    "at",
    ["00:00:30", "23:59:30"],
    ids=["just-after-midnight-china (utc-day-before)", "just-before-midnight-china"],
)
def test_an_early_renewal_leaves_exactly_one_version_in_force_at_every_instant(
    db: tuple[TestClient, ApiKeys, Elicence], clock: Clock, at: str
) -> None:
    api, keys, svc = db
    clock.now = china("2026-11-28", "10:00:00")
    r = api.post(
        URL,
        json=food_permit("RENEW-1", valid_from="2026-01-01", valid_until="2030-12-31"),
        headers=keys.h("gz_amr"),
    )
    assert r.status_code == 201, r.text
    old = r.json()

    clock.now = china("2026-11-30", "23:59:59")  # the day before the hand-over
    assert _verdicts(api, old) == ("valid", "valid")

    clock.now = china(HAND_OVER, at)
    assert _verdicts(api, old) == ("valid", "valid")  # up to the renewal, the old one
    r = api.post(
        f"{URL}/{old['identifier']}/renew", json={"reason": "提前换证"}, headers=keys.h("gz_amr")
    )
    assert r.status_code == 201, r.text
    new = r.json()["new_version"]
    # in force from the day it was made, China time (at 00:00:30 the UTC date is still the 30th)
    assert (new["valid_from"], new["valid_until"]) == (HAND_OVER, "2031-11-30")  # 5/Y
    assert r.json()["licence"]["status"] == "superseded"

    for day, time in ((HAND_OVER, at), (HAND_OVER, "23:59:59"), ("2026-12-02", "00:00:00")):
        clock.now = china(day, time)
        assert _verdicts(api, old) == ("superseded", "superseded"), (day, time)
        assert _verdicts(api, new) == ("valid", "valid"), (day, time)
        statuses = {
            lic["identifier"]: api.get(
                f"{URL}/{lic['identifier']}", headers=keys.h("gz_amr")
            ).json()["status"]
            for lic in (old, new)
        }
        assert statuses == {old["identifier"]: "superseded", new["identifier"]: "valid"}
        # the status lists signed now say the same to an offline hall
        assert _offline(api, old["seal"], clock.now) is Verdict.SUPERSEDED
        assert _offline(api, new["seal"], clock.now) is Verdict.VALID

    # the feed: the renewal is one event, naming the version it supersedes and the new dates
    events = api.get("/api/v1/feed", headers=keys.h("admin")).json()["events"]
    renewed = [e for e in events if e["kind"] == "renewed"]
    assert len(renewed) == 1 and renewed[0]["identifier"] == new["identifier"]
    assert renewed[0]["detail"]["supersedes"] == old["identifier"]
    assert renewed[0]["detail"]["valid_from"] == HAND_OVER
    assert svc.log.audit().ok


@pytest.mark.parametrize(
    ("valid_from", "status"),
    [("2026-12-02", 422), ("2031-01-01", 422)],
    ids=["tomorrow", "after-the-old-one-ends"],
)
def test_a_renewal_starting_later_than_today_is_refused_and_changes_nothing(
    db: tuple[TestClient, ApiKeys, Elicence], clock: Clock, valid_from: str, status: int
) -> None:
    api, keys, svc = db
    clock.now = china(HAND_OVER, "00:00:30")
    r = api.post(
        URL,
        json=food_permit("RENEW-2", valid_from="2026-01-01", valid_until="2030-12-31"),
        headers=keys.h("gz_amr"),
    )
    old = r.json()
    size = len(svc.registry.events(limit=100))
    r = api.post(
        f"{URL}/{old['identifier']}/renew",
        json={"reason": "提前换证", "valid_from": valid_from},
        headers=keys.h("gz_amr"),
    )
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["field"] == "valid_from" and HAND_OVER in err["message"]
    assert _verdicts(api, old) == ("valid", "valid")
    assert len(svc.registry.events(limit=100)) == size


def test_a_renewal_on_the_first_day_starts_that_day_and_not_before(
    db: tuple[TestClient, ApiKeys, Elicence], clock: Clock
) -> None:
    api, keys, _svc = db
    today = clock.now.astimezone(CHINA_TZ).date().isoformat()
    r = api.post(URL, json=food_permit("RENEW-4", valid_from=today), headers=keys.h("gz_amr"))
    old = r.json()
    path, h = f"{URL}/{old['identifier']}/renew", keys.h("gz_amr")
    before = api.post(path, json={"reason": "换证", "valid_from": "2026-01-01"}, headers=h)
    assert before.status_code == 422 and before.json()["error"]["field"] == "valid_from"
    r = api.post(path, json={"reason": "换证"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["new_version"]["valid_from"] == today
    assert _verdicts(api, old) == ("superseded", "superseded")
    assert _verdicts(api, r.json()["new_version"]) == ("valid", "valid")


def test_a_licence_not_yet_in_force_cannot_be_renewed(
    db: tuple[TestClient, ApiKeys, Elicence], clock: Clock
) -> None:
    api, keys, _svc = db
    r = api.post(
        URL, json=food_permit("RENEW-3", valid_from="2027-01-01"), headers=keys.h("gz_amr")
    )
    assert r.status_code == 201, r.text
    r = api.post(
        f"{URL}/{r.json()['identifier']}/renew", json={"reason": "换证"}, headers=keys.h("gz_amr")
    )
    assert r.status_code == 409, r.text
    assert "not in force before 2027-01-01" in r.json()["error"]["message"]


# -- not yet valid -------------------------------------------------------------------------------


def test_a_genuine_licence_before_its_first_day_is_not_yet_valid_then_valid(
    db: tuple[TestClient, ApiKeys, Elicence], clock: Clock
) -> None:
    api, keys, _svc = db
    r = api.post(URL, json=food_permit("NYV-1", valid_from="2027-01-01"), headers=keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    lic = r.json()
    for who in ({}, keys.h("hall")):
        out = api.post("/api/v1/verify", json={"seal": lic["seal"]}, headers=who).json()
        assert out["verdict"] == "not_yet_valid"
        dates = next(c for c in out["checks"] if c["name"] == "validity_dates")
        assert not dates["passed"] and "2027-01-01" in dates["detail"]
        assert all(c["passed"] for c in out["checks"] if c["name"] != "validity_dates")
        assert out["licence"]["valid_from"] == "2027-01-01"
    assert _verdicts(api, lic) == ("not_yet_valid", "not_yet_valid")
    assert _offline(api, lic["seal"], clock.now) is Verdict.NOT_YET_VALID

    clock.now = china("2026-12-31", "23:59:59")
    assert _verdicts(api, lic) == ("not_yet_valid", "not_yet_valid")
    clock.now = china("2027-01-01", "00:00:00")
    assert _verdicts(api, lic) == ("valid", "valid")


@pytest.mark.parametrize(
    ("action", "verdict"), [("revoke", "revoked"), ("suspend", "suspended")], ids=str
)
def test_any_other_failure_outweighs_not_yet_valid(
    db: tuple[TestClient, ApiKeys, Elicence], action: str, verdict: str
) -> None:
    api, keys, _svc = db
    r = api.post(URL, json=food_permit("NYV-2", valid_from="2027-01-01"), headers=keys.h("gz_amr"))
    lic = r.json()
    r = api.post(
        f"{URL}/{lic['identifier']}/{action}", json={"reason": "r"}, headers=keys.h("gz_amr")
    )
    assert r.status_code == 200, r.text
    assert _verdicts(api, lic) == (verdict, verdict)


def test_offline_not_yet_valid_is_said_only_when_every_other_check_passed(
    api: TestClient, api_keys: ApiKeys, service: Elicence, clock: Clock
) -> None:
    r = api.post(
        URL, json=food_permit("NYV-3", valid_from="2027-01-01"), headers=api_keys.h("gz_amr")
    )
    seal = r.json()["seal"]
    trust_list = service.keys.trust_list()
    skip = verify_seal(seal, trust_list=trust_list, status=UnsafeSkipStatusCheck, now=clock.now)
    assert skip.verdict is Verdict.NOT_YET_VALID and not skip.status_checked
    # a stale trust list, or a status list missing: indeterminate, not "genuine, in force from"
    later = trust_list.next_update + dt.timedelta(seconds=1)
    stale = verify_seal(seal, trust_list=trust_list, status=UnsafeSkipStatusCheck, now=later)
    assert stale.verdict is Verdict.INDETERMINATE
    missing = verify_seal(seal, trust_list=trust_list, status=OfflineStatus([]), now=clock.now)
    assert missing.verdict is Verdict.INDETERMINATE


def test_the_openapi_verdict_lists_not_yet_valid(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()["components"]["schemas"]
    verdict = schema["VerificationOut"]["properties"]["verdict"]
    enum = (
        schema[verdict["$ref"].rsplit("/", 1)[1]]["enum"] if "$ref" in verdict else verdict["enum"]
    )
    assert set(enum) == {str(v) for v in Verdict}
    assert "not_yet_valid" in enum
