"""Licences another holder granted to the applicant — or to its case — are offered in the apply
page's cite picker beside its own (issue 18: "以及他人授权给本人或本办件的证照"), cited with one
tap; a grant withdrawn, another type, or no grant at all is not offered and cannot be cited. A
holder grants to another holder from its licence page (``grantee_kind=holder``) or the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.hall.conftest import ORG, ORG2, RESTAURANT, World
from tests.hall.web import FORM, cases_of, sign_in, web_browser
from tests.holder.web import csrf_of, sign_in_holder

GRANTS = "/api/v1/grants"


def _grant(world: World, who: str, identifier: str, kind: str, ref: str) -> Any:
    until = (world.svc.clock() + dt.timedelta(days=7)).isoformat().replace("+00:00", "Z")
    body = {
        "identifier": identifier,
        "grantee": {"kind": kind, "ref": ref},
        "purpose": "开办餐馆",
        "valid_until": until,
    }
    return world.api.post(GRANTS, json=body, headers=world.h(who))


@pytest.fixture
def browser(world: World) -> Any:
    with web_browser(world) as c:
        yield c


def _apply_citing(c: TestClient, identifier: str) -> Any:
    page = c.get(f"/services/{RESTAURANT}/apply")
    data = {"csrf": csrf_of(page.text), **FORM, "licence.business_licence": identifier}
    files = {"upload.premises_layout": ("layout.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}
    return c.post(f"/services/{RESTAURANT}/apply", data=data, files=files, follow_redirects=False)


def test_a_licence_granted_to_the_applicant_is_offered_and_cited_with_one_tap(
    any_world: World,
) -> None:
    world = any_world
    theirs = world.idents["biz2"]
    r = _grant(world, "org2", theirs, "holder", f"001:{ORG}")
    assert r.status_code == 201, r.text
    with web_browser(world) as c:
        sign_in(c)
        page = c.get(f"/services/{RESTAURANT}/apply").text
        assert f'name="licence.business_licence" value="{world.idents["biz"]}"' in page  # own
        assert f'name="licence.business_licence" value="{theirs}"' in page  # granted
        assert "授权用证" in page and "另一家公司 授权" in page
        assert world.idents["food"] not in page  # not of the material's type
        done = _apply_citing(c, theirs)
        assert done.status_code == 303, done.text
    case = cases_of(world)[0]
    assert case["citations"][0]["identifier"] == theirs


def test_without_a_grant_in_force_another_holders_licence_is_neither_offered_nor_cited(
    world: World, browser: TestClient
) -> None:
    theirs = world.idents["biz2"]
    grant = _grant(world, "org2", theirs, "holder", f"001:{ORG}").json()
    # a grant to someone else offers nothing to this applicant
    assert _grant(world, "org2", theirs, "holder", "111:11010519491231002X").status_code == 201
    r = world.api.post(f"{GRANTS}/{grant['id']}/withdraw", headers=world.h("org2"))
    assert r.status_code == 200, r.text
    sign_in(browser)
    page = browser.get(f"/services/{RESTAURANT}/apply").text
    assert f'value="{theirs}"' not in page
    refused = _apply_citing(browser, theirs)
    assert refused.status_code == 403 and "不属于申请人" in refused.text
    assert cases_of(world) == []


def test_a_licence_granted_to_the_case_is_offered_in_its_supplement_form(
    world: World, browser: TestClient
) -> None:
    number = world.open_restaurant_case()
    world.drive(number, "accept", "start-review")
    asked = world.step("th_amr", number, "request-supplement", reason="请补充另一家公司的营业执照")
    assert asked.status_code == 200, asked.text
    theirs = world.idents["biz2"]
    sign_in(browser)
    assert f'value="{theirs}"' not in browser.get(f"/me/cases/{number}").text
    assert _grant(world, "org2", theirs, "case", number).status_code == 201
    page = browser.get(f"/me/cases/{number}").text
    assert f'name="licence.business_licence" value="{theirs}"' in page
    r = browser.post(
        f"/me/cases/{number}/supplement",
        data={"csrf": csrf_of(page), "licence.business_licence": theirs},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    case = next(c for c in cases_of(world) if c["number"] == number)
    assert case["citations"][0]["identifier"] == theirs


def test_a_holder_grants_to_another_holder_from_its_licence_page(world: World) -> None:
    with web_browser(world) as c:
        assert sign_in_holder(c, "001", ORG2, "另一家公司").status_code == 200
        ident = world.idents["biz2"]
        page = c.get(f"/me/licences/{ident}")
        assert 'value="holder"' in page.text
        base = {
            "csrf": csrf_of(page.text),
            "identifier": ident,
            "purpose": "开办餐馆",
            "days": "7",
            "grantee_kind": "holder",
        }
        for bad in (
            {"holder_id_type": "001", "holder_id": ""},  # missing
            {"holder_id_type": "001", "holder_id": "9" * 65},  # too long
            {"holder_id_type": "001", "holder_id": ORG2},  # itself
            {"holder_id_type": "abc", "holder_id": ORG},  # wrong type
            {"grantee_kind": "friend", "holder_id_type": "001", "holder_id": ORG},
        ):
            r = c.post("/me/grants", data={**base, **bad}, follow_redirects=False)
            assert 400 <= r.status_code < 500, (bad, r.status_code)
        assert world.api.get(GRANTS, headers=world.h("org2")).json() == []
        r = c.post(
            "/me/grants",
            data={**base, "holder_id_type": "001", "holder_id": ORG},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        grants = world.api.get(GRANTS, headers=world.h("org2")).json()
        assert [(g["grantee_kind"], g["grantee"]) for g in grants] == [("holder", f"001:{ORG}")]
        assert "持证人 Holder 001:" in c.get("/me/grants").text
        # without the CSRF token nothing is granted
        r = c.post(
            "/me/grants",
            data={**base, "csrf": "forged", "holder_id_type": "001", "holder_id": ORG},
            follow_redirects=False,
        )
        assert r.status_code in (401, 422)
        assert len(world.api.get(GRANTS, headers=world.h("org2")).json()) == 1
