"""Authorised use (授权用证): a holder grants a hall or a case one licence for a purpose and a
period and withdraws it; the hall sees the licence in full only while the grant is in force;
every use is a usage record the holder reads; bad grants are refused and store nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from elicence.domain.catalogue import HolderIdType
from elicence.domain.licence import HolderRef
from elicence.hall.numbers import new_case_number
from tests.conftest import Clock
from tests.holder.conftest import ORG_ID_MASK, ORG_NAME, ORG_X, PERSON, World

GRANTS = "/api/v1/grants"
VERIFY = "/api/v1/verify"
CASE = new_case_number("440106", dt.date(2026, 11, 28))
OTHER_CASE = new_case_number("440106", dt.date(2026, 11, 28))


def _grant(world: World, who: dict[str, str], **over: Any) -> Any:
    body: dict[str, Any] = {
        "identifier": world.food["identifier"],
        "grantee": {"kind": "hall", "ref": world.hall_id},
        "purpose": "办理食品经营许可变更",
        "valid_until": "2026-12-28T02:00:00Z",
    }
    body.update(over)
    return world.api.post(GRANTS, json=body, headers=who)


def _verify(world: World) -> dict[str, Any]:
    r = world.api.post(VERIFY, json={"seal": world.food["seal"]}, headers=world.hall())
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_a_hall_sees_the_full_data_only_while_a_grant_is_in_force(world: World) -> None:
    before = _verify(world)
    assert before["masked"] is True and before["licence"]["holder_name"] != ORG_NAME

    r = _grant(world, world.org)
    assert r.status_code == 201, r.text
    grant = r.json()
    assert grant["state"] == "in_force" and grant["grantee"] == world.hall_id
    during = _verify(world)
    assert during["masked"] is False
    assert during["licence"]["holder_name"] == ORG_NAME
    assert during["licence"]["holder_id"] == ORG_X

    r = world.api.post(f"{GRANTS}/{grant['id']}/withdraw", headers=world.org)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "withdrawn"
    after = _verify(world)
    assert after["masked"] is True
    assert ORG_NAME not in str(after) and ORG_X not in str(after)
    assert after["licence"]["holder_id"] == ORG_ID_MASK


def test_the_holder_sees_who_checked_which_licence_when_and_under_which_grant(
    world: World, clock: Clock
) -> None:
    _verify(world)  # masked: no grant yet
    clock.advance(seconds=1)
    grant = _grant(world, world.org).json()
    _verify(world)  # in full, under the grant
    world.api.post(VERIFY, json={"seal": world.food["seal"]})  # a phone, anonymous
    world.api.post(VERIFY, json={"seal": world.wedding["seal"]}, headers=world.hall())
    r = world.api.get("/api/v1/usage", headers=world.org)
    assert r.status_code == 200, r.text
    uses = r.json()
    assert [u["identifier"] for u in uses] == [world.food["identifier"]] * 3  # not the wedding
    anonymous, granted, masked = uses  # newest first
    assert anonymous["client_id"] is None and anonymous["grant_id"] is None
    assert granted["client_name"] == "天河区政务服务中心" and granted["grant_id"] == grant["id"]
    assert masked["client_role"] == "hall" and masked["grant_id"] is None
    assert all(u["channel"] == "seal" and u["verdict"] == "valid" for u in uses)
    # the other holder sees only its own licence's uses
    person = world.api.get("/api/v1/usage", headers=world.person).json()
    assert [u["identifier"] for u in person] == [world.wedding["identifier"]]


def test_a_hall_reads_a_granted_licence_and_its_pdf_while_the_grant_is_in_force(
    world: World, clock: Clock
) -> None:
    grant = _grant(world, world.org, valid_until="2026-11-29T02:00:00Z").json()
    listed = world.api.get(GRANTS, headers=world.hall()).json()
    assert [g["id"] for g in listed] == [grant["id"]]
    r = world.api.get(f"{GRANTS}/{grant['id']}/licence", headers=world.hall())
    assert r.status_code == 200, r.text
    lic = r.json()["licence"]
    assert lic["holder"]["id_number"] == ORG_X
    assert lic["data"]["legal_representative"] == "张三"  # not sealed: registry data, in full
    pdf = world.api.get(f"{GRANTS}/{grant['id']}/pdf", headers=world.hall())
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    holder_pdf = world.api.get(
        f"/api/v1/licences/{world.food['identifier']}/pdf", headers=world.org
    )
    assert holder_pdf.content == pdf.content  # the same kept, signed file
    channels = [u["channel"] for u in world.api.get("/api/v1/usage", headers=world.org).json()]
    assert channels == ["grant", "grant"]

    clock.advance(days=1)  # the grant has ended
    for path in (f"{GRANTS}/{grant['id']}/licence", f"{GRANTS}/{grant['id']}/pdf"):
        r = world.api.get(path, headers=world.hall())
        assert r.status_code == 404, r.text
    assert world.api.get(GRANTS, headers=world.hall()).json() == []
    assert _verify(world)["masked"] is True


def test_a_withdrawn_grant_is_refused_with_the_same_answer_as_none(world: World) -> None:
    grant = _grant(world, world.org).json()
    world.api.post(f"{GRANTS}/{grant['id']}/withdraw", headers=world.org)
    withdrawn = world.api.get(f"{GRANTS}/{grant['id']}/licence", headers=world.hall())
    missing = world.api.get(f"{GRANTS}/g_0000000000000000/licence", headers=world.hall())
    assert withdrawn.status_code == missing.status_code == 404
    assert withdrawn.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert ORG_NAME not in withdrawn.text
    again = world.api.post(f"{GRANTS}/{grant['id']}/withdraw", headers=world.org)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_withdrawn"


def test_another_hall_cannot_use_a_grant(world: World) -> None:
    grant = _grant(world, world.org).json()
    other = world.service.clients.add(name="越秀区政务服务中心", role="hall", department=None)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {other.api_key}"}
    assert world.api.get(f"{GRANTS}/{grant['id']}/licence", headers=headers).status_code == 404
    r = world.api.post(VERIFY, json={"seal": world.food["seal"]}, headers=headers)
    assert r.json()["masked"] is True


def test_a_grant_of_a_licence_the_holder_does_not_own_is_404_and_stores_nothing(
    world: World,
) -> None:
    r = _grant(world, world.other)  # ORG_Y asks for ORG_X's licence
    assert r.status_code == 404, r.text
    assert r.json()["error"] == {
        "code": "not_found",
        "message": f"no licence {world.food['identifier']} for this client",
        "field": "identifier",
    }
    assert world.api.get(GRANTS, headers=world.other).json() == []
    assert world.api.get(GRANTS, headers=world.org).json() == []
    assert _verify(world)["masked"] is True


def test_a_holder_cannot_withdraw_or_see_another_holders_grant(world: World) -> None:
    grant = _grant(world, world.org).json()
    r = world.api.post(f"{GRANTS}/{grant['id']}/withdraw", headers=world.person)
    assert r.status_code == 404
    assert world.api.get(GRANTS, headers=world.person).json() == []
    assert _verify(world)["masked"] is False  # still in force


@pytest.mark.parametrize("who", ["hall", "gz_amr", "admin"])
def test_only_a_holder_grants(world: World, who: str) -> None:
    r = _grant(world, world.keys.h(who))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("over", "status", "field"),
    [
        pytest.param({"grantee": {"kind": "city", "ref": "x"}}, 422, "grantee.kind", id="kind"),
        pytest.param(
            {"grantee": {"kind": "hall", "ref": "c_nope"}}, 422, "grantee.ref", id="no-hall"
        ),
        pytest.param({"grantee": {"kind": "case", "ref": "办件 1"}}, 422, "grantee.ref", id="case"),
        pytest.param(
            {"grantee": {"kind": "case", "ref": CASE[:-1] + ("0" if CASE[-1] != "0" else "1")}},
            422,
            "grantee.ref",
            id="case-check-character",
        ),
        pytest.param({"purpose": "  "}, 422, "purpose", id="no-purpose"),
        pytest.param({"purpose": "x" * 201}, 422, "purpose", id="long-purpose"),
        pytest.param({"valid_until": "2026-11-27T00:00:00Z"}, 422, "valid_until", id="past"),
        pytest.param({"valid_until": "2028-01-01T00:00:00Z"}, 422, "valid_until", id="too-long"),
        pytest.param({"valid_until": "2026-12-01T00:00:00"}, 422, "valid_until", id="no-zone"),
        pytest.param({"valid_until": "soon"}, 422, "valid_until", id="not-a-time"),
        pytest.param({"identifier": "1.2.3"}, 422, "identifier", id="bad-identifier"),
        pytest.param({"extra": 1}, 422, "extra", id="unknown-field"),
    ],
)
def test_bad_grants_are_refused_naming_the_field(
    world: World, over: dict[str, Any], status: int, field: str
) -> None:
    r = _grant(world, world.org, **over)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field
    assert world.api.get(GRANTS, headers=world.org).json() == []


def test_a_department_client_is_not_a_hall_to_grant_to(world: World) -> None:
    dept = next(c.id for c in world.service.clients.all() if c.role == "department")
    r = _grant(world, world.org, grantee={"kind": "hall", "ref": dept})
    assert r.status_code == 422 and r.json()["error"]["field"] == "grantee.ref"


def test_a_revoked_licence_cannot_be_granted(world: World) -> None:
    r = world.api.post(
        f"/api/v1/licences/{world.food['identifier']}/revoke",
        json={"reason": "注销"},
        headers=world.keys.h("gz_amr"),
    )
    assert r.status_code == 200, r.text
    r = _grant(world, world.org)
    assert r.status_code == 409 and r.json()["error"]["code"] == "licence_not_in_force"


def test_may_cite_consults_case_and_hall_grants(world: World, clock: Clock) -> None:
    holders = world.service.holder
    org = HolderRef(HolderIdType.USCC, ORG_X)
    person = HolderRef(HolderIdType.RESIDENT_ID, PERSON)
    ident = world.food["identifier"]
    assert holders.may_cite(org, ident).reason == "holder"
    assert holders.may_cite(person, ident).allowed is False
    assert holders.may_cite(person, ident, case=CASE).reason == "no_grant"
    grant = _grant(world, world.org, grantee={"kind": "case", "ref": CASE}).json()
    decision = holders.may_cite(person, ident, case=CASE)
    assert decision.allowed and decision.reason == "grant" and decision.grant is not None
    assert decision.grant.id == grant["id"]
    assert holders.may_cite(person, ident, case=OTHER_CASE).allowed is False
    hall = world.service.clients.authenticate(world.keys.hall)
    assert holders.may_cite(person, ident, hall=hall).allowed is False  # a case grant only
    clock.advance(days=31)
    assert holders.may_cite(person, ident, case=CASE).allowed is False


def test_a_grant_may_start_later_and_is_pending_until_then(world: World, clock: Clock) -> None:
    start = (clock.now + dt.timedelta(hours=2)).isoformat()
    grant = _grant(world, world.org, valid_from=start).json()
    assert grant["state"] == "pending"
    assert _verify(world)["masked"] is True
    clock.advance(hours=2)
    assert _verify(world)["masked"] is False
