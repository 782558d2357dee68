"""The pages without a browser: holders sign in through the OIDC flow and see only their own
licences; sessions expire on the server; every state-changing form needs its CSRF token; the
demo provider exists in development only; the ID token's every check refuses a bad token; the
desk and the console work through the same use cases as the API."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.demo_idp import DemoIdentityProvider
from elicence.app.identity import OidcClient
from elicence.app.service import Elicence
from elicence.app.signin import SignIn
from elicence.bootstrap import assemble
from elicence.domain.clients import Role
from elicence.errors import LoginError, SettingsError
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from elicence.settings import DEVELOPMENT_SESSION_SECRET, Settings
from tests.conftest import PASSPHRASE, ApiKeys, Clock, food_permit
from tests.holder.conftest import ORG_NAME, ORG_X, PERSON, World, issue
from tests.holder.web import csrf_of, form_fields, sign_in_holder, sign_in_key

BASE = "https://hall.example.gov.cn"


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    """A cookie-keeping client at the service's public address (cookies are Secure there)."""
    with TestClient(create_app(world.service), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def _org(browser: TestClient) -> Any:
    return sign_in_holder(browser, "001", ORG_X, "某某餐饮")


# -- sign-in and isolation -----------------------------------------------------------------------


def test_a_holder_signs_in_and_sees_only_its_own_licences(
    world: World, browser: TestClient
) -> None:
    page = _org(browser)
    assert page.status_code == 200
    assert world.food["licence_number"] in page.text
    assert world.wedding["licence_number"] not in page.text
    assert "某某餐饮" in page.text  # who is signed in
    cookie = next(c for c in browser.cookies.jar if c.name == "elicence_session")
    assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
    mine = browser.get(f"/me/licences/{world.food['identifier']}")
    assert mine.status_code == 200 and world.food["identifier"] in mine.text
    pdf = browser.get(f"/me/licences/{world.food['identifier']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    api_pdf = world.api.get(
        f"/api/v1/licences/{world.food['identifier']}/pdf", headers=world.org
    ).content
    assert pdf.content == api_pdf  # the same kept PAdES file
    theirs = world.wedding["identifier"]
    for path in ("", "/pdf", "/qr.svg", "/live.svg"):
        r = browser.get(f"/me/licences/{theirs}{path}")
        assert r.status_code == 404, (path, r.text[:200])
        assert "李四" not in r.text and PERSON not in r.text


def test_the_pages_carry_a_strict_content_security_policy(
    world: World, browser: TestClient
) -> None:
    page = _org(browser)
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp and "form-action 'self'" in csp
    assert (
        "<script>" not in page.text and " style=" not in page.text and " onclick" not in page.text
    )
    assert 'lang="zh-CN"' in page.text and 'lang="en"' in page.text


def test_a_session_expires_on_the_server_when_idle(
    world: World, browser: TestClient, clock: Clock
) -> None:
    _org(browser)
    clock.advance(minutes=29)
    assert world.food["licence_number"] in browser.get("/me").text  # used: kept alive
    clock.advance(minutes=31)
    page = browser.get("/me")
    assert world.food["licence_number"] not in page.text
    assert "统一身份认证登录" in page.text


def test_without_a_session_every_holder_route_answers_as_before(
    world: World, browser: TestClient
) -> None:
    """The one holder guard: a page shows the sign-in page, a file and a form redirect to the
    sign-in coming back to their page, the live code is refused; a form's CSRF comes first."""
    ident = world.food["identifier"]
    for path in ("/me", "/me/grants", "/me/usage", "/me/tokens", f"/me/licences/{ident}"):
        page = browser.get(path)
        assert page.status_code == 200 and "统一身份认证登录" in page.text, path
        assert f'/login?next={path}"' in page.text, path
    for path in ("/pdf", "/qr.svg"):
        r = browser.get(f"/me/licences/{ident}{path}", follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].endswith(f"/login?next=/me/licences/{ident}"), path
    assert browser.get(f"/me/licences/{ident}/live.svg").status_code == 401
    csrf = csrf_of(browser.get("/signin").text)  # the anonymous session's token
    forms = {
        "/me/grants": ({"identifier": ident, "purpose": "x", "days": "7"}, f"/me/licences/{ident}"),
        "/me/grants/g_1/withdraw": ({}, "/me/grants"),
        "/me/tokens": ({"name": "x"}, "/me/tokens"),
        "/me/tokens/t_1/disable": ({}, "/me/tokens"),
    }
    for path, (fields, back) in forms.items():
        r = browser.post(path, data={**fields, "csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303, (path, r.text[:200])
        assert r.headers["location"].endswith(f"/login?next={back}"), path
        refused = browser.post(path, data=fields, follow_redirects=False)
        assert refused.status_code == 422 and "csrf" in refused.text, path
        forged = browser.post(path, data={**fields, "csrf": "forged"}, follow_redirects=False)
        assert forged.status_code == 401 and "csrf" in forged.text, path


def test_a_tampered_session_cookie_is_no_session(world: World, browser: TestClient) -> None:
    _org(browser)
    cookie = browser.cookies.get("elicence_session")
    assert cookie
    browser.cookies.set("elicence_session", cookie[:-3] + "AAA", domain="hall.example.gov.cn")
    page = browser.get("/me")
    assert world.food["licence_number"] not in page.text


def test_signing_out_ends_the_session(world: World, browser: TestClient) -> None:
    page = _org(browser)
    r = browser.post("/logout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200
    assert world.food["licence_number"] not in browser.get("/me").text


# -- CSRF ----------------------------------------------------------------------------------------


def _grant_form(world: World, page: str) -> dict[str, str]:
    return {
        "csrf": csrf_of(page),
        "identifier": world.food["identifier"],
        "grantee_kind": "hall",
        "hall": world.hall_id,
        "purpose": "开办餐饮店",
        "days": "7",
    }


@pytest.mark.parametrize(
    ("change", "headers"),
    [
        pytest.param({"csrf": None}, {}, id="no-token"),
        pytest.param({"csrf": "forged"}, {}, id="wrong-token"),
        pytest.param({}, {"Origin": "https://evil.example"}, id="other-origin"),
    ],
)
def test_a_form_without_its_csrf_token_changes_nothing(
    world: World, browser: TestClient, change: dict[str, Any], headers: dict[str, str]
) -> None:
    page = _org(browser)
    form = _grant_form(world, page.text)
    form.update(change)
    form = {k: v for k, v in form.items() if v is not None}
    r = browser.post("/me/grants", data=form, headers=headers)
    assert r.status_code in (401, 422), r.text
    assert "csrf" in r.text
    assert world.api.get("/api/v1/grants", headers=world.org).json() == []


def test_a_grant_made_and_withdrawn_on_the_page_rules_what_the_hall_sees(
    world: World, browser: TestClient, clock: Clock
) -> None:
    page = _org(browser)
    r = browser.post("/me/grants", data=_grant_form(world, page.text))
    assert r.status_code == 200, r.text
    assert "已授权" in r.text and "天河区政务服务中心" in r.text
    seal = {"seal": world.food["seal"]}
    clock.advance(seconds=1)
    assert (
        world.api.post("/api/v1/verify", json=seal, headers=world.hall()).json()["masked"] is False
    )
    clock.advance(seconds=1)
    grant_id = world.api.get("/api/v1/grants", headers=world.org).json()[0]["id"]
    withdraw = form_fields(r.text, f"/me/grants/{grant_id}/withdraw")
    r = browser.post(f"/me/grants/{grant_id}/withdraw", data=withdraw)
    assert r.status_code == 200 and "已撤回" in r.text
    assert (
        world.api.post("/api/v1/verify", json=seal, headers=world.hall()).json()["masked"] is True
    )
    usage = browser.get("/me/usage")
    assert "天河区政务服务中心" in usage.text and "依授权" in usage.text


def test_a_holder_cannot_grant_another_holders_licence_on_the_page(
    world: World, browser: TestClient
) -> None:
    page = sign_in_holder(browser, "001", "91440101MA59TK3R7Y", "另一家公司")
    form = _grant_form(world, page.text)
    r = browser.post("/me/grants", data=form)
    assert r.status_code == 404
    assert ORG_NAME not in r.text
    assert world.api.get("/api/v1/grants", headers=world.org).json() == []


def test_a_holder_makes_and_disables_an_api_token_for_its_own_systems(
    world: World, browser: TestClient
) -> None:
    page = _org(browser)
    tokens = browser.get("/me/tokens")
    r = browser.post("/me/tokens", data={"csrf": csrf_of(tokens.text), "name": "财务系统"})
    key = re.search(r'id="new-key">([^<]+)<', r.text)
    assert key, r.text
    headers = {"Authorization": f"Bearer {key.group(1)}"}
    pdf = world.api.get(f"/api/v1/licences/{world.food['identifier']}/pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    other = world.api.get(f"/api/v1/licences/{world.wedding['identifier']}/pdf", headers=headers)
    assert other.status_code == 404
    token_id = re.search(
        r'财务系统</strong>.*?action="/me/tokens/(c_[0-9a-f]+)/disable"', r.text, re.S
    )
    assert token_id and page.status_code == 200
    r = browser.post(f"/me/tokens/{token_id.group(1)}/disable", data={"csrf": csrf_of(r.text)})
    assert r.status_code == 200
    assert world.api.get("/api/v1/licences", headers=headers).status_code == 401


# -- the OpenID Connect checks -------------------------------------------------------------------


def _rp(world: World) -> tuple[OidcClient, DemoIdentityProvider]:
    sign_in = world.service.holder.sign_in
    assert sign_in.demo is not None
    return sign_in.oidc(), sign_in.demo


def _claims(now: dt.datetime, **over: Any) -> dict[str, Any]:
    t = int(now.timestamp())
    claims = {
        "iss": f"{BASE}/demo-idp",
        "sub": "s1",
        "aud": "elicence-portal",
        "iat": t,
        "exp": t + 300,
        "nonce": "n-1",
        "name": "李四",
        "holder_id_type": "111",
        "holder_id": PERSON,
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    ("over", "why"),
    [
        pytest.param({"iss": "https://evil.example"}, "iss", id="issuer"),
        pytest.param({"aud": "another-client"}, "aud", id="audience"),
        pytest.param({"exp": 1}, "exp", id="expired"),
        pytest.param({"nonce": "n-2"}, "nonce", id="nonce"),
        pytest.param({"nonce": None}, "nonce", id="no-nonce"),
        pytest.param({"holder_id": None}, "holder", id="no-holder-id"),
        pytest.param({"holder_id": "110105194912310021"}, "holder", id="bad-check-character"),
        pytest.param({"holder_id_type": "123"}, "holder", id="unknown-id-type"),
        pytest.param({"aud": ["elicence-portal", "x"]}, "audiences", id="azp-missing"),
    ],
)
def test_a_bad_id_token_is_refused(world: World, over: dict[str, Any], why: str) -> None:
    rp, demo = _rp(world)
    token = demo.sign(_claims(world.service.clock(), **over))
    with pytest.raises(LoginError) as e:
        rp.verify_id_token(token, nonce="n-1")
    assert why in str(e.value).lower() or why in (e.value.field or "")


def test_a_good_id_token_gives_the_holder(world: World) -> None:
    rp, demo = _rp(world)
    identity = rp.verify_id_token(demo.sign(_claims(world.service.clock())), nonce="n-1")
    assert str(identity.holder) == f"111:{PERSON}" and identity.name == "李四"


def test_an_id_token_signed_by_another_key_is_refused(world: World, clock: Clock) -> None:
    rp, _ = _rp(world)
    stranger = DemoIdentityProvider(
        issuer=f"{BASE}/demo-idp",
        client_id="elicence-portal",
        client_secret="x",
        redirect_uri=f"{BASE}/login/callback",
        secret="another secret entirely, at least 32 chars",
        clock=clock,
    )
    with pytest.raises(LoginError):
        rp.verify_id_token(stranger.sign(_claims(clock.now)), nonce="n-1")


def test_the_code_is_good_once_and_only_with_its_pkce_verifier(world: World) -> None:
    rp, demo = _rp(world)
    start = rp.begin()
    request = demo.check_request(dict(parse_qsl(urlsplit(start.url).query)))
    back = demo.authorize(request, id_type="001", id_number=ORG_X, name="某某餐饮")
    code = dict(parse_qsl(urlsplit(back).query))["code"]
    with pytest.raises(LoginError) as e:
        demo.exchange(code=code, code_verifier="x" * 64, redirect_uri=rp.config.redirect_uri)
    assert e.value.code == "invalid_grant"
    identity = rp.finish(code=code, state=start.state, started=start)
    assert identity.holder.id_number == ORG_X
    with pytest.raises(LoginError):  # replayed
        rp.finish(code=code, state=start.state, started=start)


def test_a_callback_with_another_state_is_refused(world: World, browser: TestClient) -> None:
    r = browser.get("/login?next=/me", follow_redirects=False)
    page = browser.get(r.headers["location"])
    fields = form_fields(page.text, "/demo-idp/authorize")
    fields.update({"id_type": "001", "id_number": ORG_X, "name": "x"})
    back = browser.post("/demo-idp/authorize", data=fields, follow_redirects=False)
    forged = re.sub(r"state=[^&]+", "state=forged", back.headers["location"])
    r = browser.get(forged)
    assert r.status_code == 401 and "state" in r.text
    assert world.food["licence_number"] not in browser.get("/me").text


def test_the_demo_provider_is_development_only() -> None:
    with pytest.raises(SettingsError) as e:
        Settings(env="production", key_passphrase="a-real-production-secret", demo_idp=True)
    assert e.value.field == "demo_idp"
    with pytest.raises(SettingsError) as e:
        Settings(
            env="production",
            key_passphrase="a-real-production-secret",
            session_secret=DEVELOPMENT_SESSION_SECRET,
        )
    assert e.value.field == "session_secret"
    prod = Settings(
        env="production",
        key_passphrase="a-real-production-secret",
        public_base_url="https://zz.gdzwfw.example.gov.cn",
    )
    assert prod.demo_idp_enabled is False and prod.effective_session_secret is None


def test_without_a_demo_provider_its_routes_are_404(
    tmp_path: Any, keys_dir: Any, clock: Clock, demo_catalogue: Any
) -> None:
    registry = Registry.from_url(f"sqlite:///{tmp_path / 'r.db'}")
    registry.upgrade()
    registry.save_catalogue(demo_catalogue, now=clock())
    svc = assemble(
        registry=registry,
        keystore=KeyStore(keys_dir, scrypt_log2_n=10),
        passphrase=PASSPHRASE,
        public_base_url=BASE,
        clock=clock,
        sign_in=SignIn(public_base_url=BASE, secret="s" * 40, demo=False, clock=clock),
    )
    with TestClient(create_app(svc), base_url=BASE) as c:
        for path in ("/demo-idp/jwks", "/demo-idp/.well-known/openid-configuration"):
            assert c.get(path).status_code == 404
        assert c.post("/demo-idp/token", data={"code": "x"}).status_code == 404
        r = c.get("/login", follow_redirects=False)
        assert r.status_code == 401  # no provider: holders cannot sign in here
    registry.dispose()


# -- the desk and the console --------------------------------------------------------------------


def test_the_desk_needs_a_hall_and_checks_a_presentation_once(
    world: World, browser: TestClient
) -> None:
    r = browser.get("/desk", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    page = sign_in_key(browser, world.keys.hall, "/desk")
    assert page.status_code == 200 and "窗口查验" in page.text
    text = world.api.get(
        f"/api/v1/licences/{world.food['identifier']}/presentation", headers=world.org
    ).json()["presentation"]
    r = browser.post("/desk", data={"csrf": csrf_of(page.text), "code": text})
    assert r.status_code == 200, r.text
    assert 'id="verdict-zh">有效<' in r.text
    assert "亮证码首次使用" in r.text and "已部分隐藏" in r.text
    again = browser.post("/desk", data={"csrf": csrf_of(r.text), "code": text})
    assert 'id="verdict-zh">重复使用<' in again.text
    pdf = world.api.get(f"/api/v1/licences/{world.food['identifier']}/pdf", headers=world.org)
    up = browser.post(
        "/desk",
        data={"csrf": csrf_of(again.text)},
        files={"pdf": ("licence.pdf", pdf.content, "application/pdf")},
    )
    assert 'id="verdict-zh">有效<' in up.text and "PDF 签名" in up.text


def test_the_holders_page_shows_a_licence_not_yet_in_force_as_such(
    world: World, browser: TestClient
) -> None:
    """Issue 16: /me said "valid" for a licence that /v called forged; now both say that it is
    not yet in force."""
    lic = issue(world.api, world.keys, "gz_amr", food_permit("ME-NYV", valid_from="2027-01-01"))
    _org(browser)
    page = browser.get(f"/me/licences/{lic['identifier']}")
    assert page.status_code == 200, page.text
    assert "尚未生效" in page.text and "Not yet valid" in page.text
    assert "2027-01-01" in page.text


def test_an_anonymous_scan_leaves_the_live_code_good_for_the_desk(
    world: World, browser: TestClient
) -> None:
    page = sign_in_key(browser, world.keys.hall, "/desk")
    text = world.api.get(
        f"/api/v1/licences/{world.food['identifier']}/presentation", headers=world.org
    ).json()["presentation"]
    looked = world.api.post("/api/v1/presentations/verify", json={"presentation": text})
    assert looked.json()["presentation"]["verdict"] == "accepted"
    r = browser.post("/desk", data={"csrf": csrf_of(page.text), "code": text})
    assert 'id="verdict-zh">有效<' in r.text and "亮证码首次使用" in r.text
    again = browser.post("/desk", data={"csrf": csrf_of(r.text), "code": text})
    assert 'id="verdict-zh">重复使用<' in again.text


def test_the_desk_shows_a_licence_not_yet_in_force_as_genuine_from_its_first_day(
    world: World, browser: TestClient
) -> None:
    lic = issue(world.api, world.keys, "gz_amr", food_permit("DESK-NYV", valid_from="2027-01-01"))
    page = sign_in_key(browser, world.keys.hall, "/desk")
    for code in (lic["seal"], lic["identifier"]):
        r = browser.post("/desk", data={"csrf": csrf_of(page.text), "code": code})
        assert r.status_code == 200, r.text
        assert 'id="verdict-zh">尚未生效<' in r.text
        assert "证照真实，自 2027-01-01 起生效" in r.text and "in force from 2027-01-01" in r.text
        assert ">无效<" not in r.text
        page = r


def test_a_holder_session_is_not_a_desk(world: World, browser: TestClient) -> None:
    _org(browser)
    r = browser.get("/desk", follow_redirects=False)
    assert r.status_code == 303 and "/signin" in r.headers["location"]


def test_a_bad_api_key_does_not_sign_in(world: World, browser: TestClient) -> None:
    r = sign_in_key(browser, "elk_not-a-key", "/console")
    assert r.status_code == 401 and "api_key" in r.text


def _console(world: World, browser: TestClient) -> str:
    page = sign_in_key(browser, world.keys.gz_amr, "/console")
    assert page.status_code == 200 and "广州市市场监督管理局" in page.text
    return page.text


def _issue_form(world: World, browser: TestClient) -> dict[str, str]:
    page = browser.get(f"/console/issue?type={food_permit()['type_code']}")
    assert page.status_code == 200
    body = food_permit("CONSOLE-1")
    holder: dict[str, str] = body["holder"]  # type: ignore[assignment]
    data: dict[str, str] = body["data"]  # type: ignore[assignment]
    return {
        "csrf": csrf_of(page.text),
        "type_code": str(body["type_code"]),
        "source_ref": "CONSOLE-1",
        "licence_number": str(body["licence_number"]),
        "holder_name": holder["name"],
        "holder_id_type": holder["id_type"],
        "holder_id": holder["id_number"],
        "valid_from": "2026-11-28",
        "valid_until": "",
        **{f"data.{k}": v for k, v in data.items()},
    }


def test_the_console_previews_a_draft_that_signs_and_stores_nothing_until_confirmed(
    world: World, browser: TestClient
) -> None:
    _console(world, browser)
    before = world.service.registry.count_licences()
    events = world.service.registry.log_head()
    preview = browser.post("/console/preview", data=_issue_form(world, browser))
    assert preview.status_code == 200, preview.text
    assert "草稿" in preview.text and "确认签发" in preview.text
    fields = form_fields(preview.text, "/console/preview.pdf")
    pdf = browser.post("/console/preview.pdf", data=fields)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert b"/ByteRange" not in pdf.content  # unsigned
    assert world.service.registry.count_licences() == before
    assert world.service.registry.log_head() == events  # no event, no status index
    confirm = browser.post("/console/confirm", data=form_fields(preview.text, "/console/confirm"))
    assert confirm.status_code == 200, confirm.text
    assert "已签发" in confirm.text
    assert world.service.registry.count_licences() == before + 1
    ident = re.search(r'id="identifier">([^<]+)<', confirm.text)
    assert ident
    revoke = browser.get("/console/revoke")
    r = browser.post(
        "/console/revoke",
        data={"csrf": csrf_of(revoke.text), "identifier": ident.group(1), "reason": "测试注销"},
    )
    assert r.status_code == 200 and "已注销" in r.text
    assert world.service.registry.licence(ident.group(1)).status == "revoked"  # type: ignore[union-attr]


def test_a_bad_draft_is_refused_naming_the_field_and_stores_nothing(
    world: World, browser: TestClient
) -> None:
    _console(world, browser)
    form = _issue_form(world, browser)
    form["holder_id"] = "91350100M000100Y44"  # wrong check character
    before = world.service.registry.count_licences()
    r = browser.post("/console/preview", data=form)
    assert r.status_code == 422 and "holder.id_number" in r.text
    assert world.service.registry.count_licences() == before


def test_the_console_imports_in_chunks_idempotently(world: World, browser: TestClient) -> None:
    page = _console(world, browser)
    items = [food_permit(f"IMP-{i}") for i in range(3)] + [{"source_ref": "bad"}]
    headers = {"X-CSRF-Token": csrf_of(page)}
    r = browser.post("/console/import", json={"items": items}, headers=headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["created"], out["existing"], out["failed"]) == (3, 0, 1)
    again = browser.post("/console/import", json={"items": items}, headers=headers).json()
    assert (again["created"], again["existing"]) == (0, 3)
    refused = browser.post("/console/import", json={"items": items})
    assert refused.status_code == 401 and refused.json()["error"]["field"] == "csrf"


def test_a_hall_key_is_not_a_console(world: World, browser: TestClient, api_keys: ApiKeys) -> None:
    sign_in_key(browser, api_keys.hall, "/console")
    r = browser.get("/console", follow_redirects=False)
    assert r.status_code == 303 and "/signin" in r.headers["location"]


def test_home_lists_the_three_sides(world: World, browser: TestClient) -> None:
    r = browser.get("/")
    assert r.status_code == 200
    for text in ("我的证照", "窗口查验", "发证部门"):
        assert text in r.text
    assert issue and Role and Elicence  # the helpers this module shares with the others
