"""What the hall's pages keep on the server rather than in one browser (issue 18): a web holder's
client row only with what needs it (a refused application leaves none behind); the notices a
holder has read, in every browser; a terminal's idle sign-out, on the server. On SQLite and
PostgreSQL (``any_world``), the terminal on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from elicence.app.holder import holder_client_id
from elicence.domain.licence import HolderRef
from elicence.registry.tables import CLIENTS, USAGE
from tests.conftest import Clock
from tests.hall.conftest import ORG, ORG2, PDF, RESTAURANT, World
from tests.hall.web import FORM, ORG_NAME, web_browser
from tests.holder.web import csrf_of, sign_in_holder, sign_in_key

WEB_ID = holder_client_id(HolderRef.parse(f"001:{ORG}"))


@pytest.fixture
def browser(any_world: World) -> Iterator[TestClient]:
    # PostgreSQL's tests keep api_clients from one test to the next (tests/conftest.KEPT): the
    # holder's web row an earlier test made goes, so that each test sees what it makes
    with any_world.svc.registry.engine.begin() as c:
        c.execute(delete(CLIENTS).where(CLIENTS.c.id == WEB_ID))
    with web_browser(any_world) as c:
        page = sign_in_holder(c, "001", ORG, ORG_NAME)
        assert page.status_code == 200, page.text
        yield c


def _apply(c: TestClient, world: World, **over: Any) -> Any:
    page = c.get(f"/services/{RESTAURANT}/apply")
    assert page.status_code == 200, page.text
    data = {"csrf": csrf_of(page.text), **FORM, "licence.business_licence": world.idents["biz"]}
    data = {k: v for k, v in {**data, **over}.items() if v is not None}
    files = {"upload.premises_layout": ("layout.pdf", PDF, "application/pdf")}
    return c.post(f"/services/{RESTAURANT}/apply", data=data, files=files, follow_redirects=False)


def _count(world: World, query: Any) -> int:
    with world.svc.registry.read() as c:
        return int(c.execute(query).scalar_one())


def _web_rows(world: World) -> int:
    return _count(world, select(func.count()).select_from(CLIENTS).where(CLIENTS.c.id == WEB_ID))


def _web_usage(world: World) -> int:
    return _count(world, select(func.count()).select_from(USAGE).where(USAGE.c.client_id == WEB_ID))


# -- a web holder's client row: all or nothing -----------------------------------------------------


@pytest.mark.parametrize(
    "over",
    [
        {"form.business_items": None},  # a required field missing
        {"form.business_items": "x" * 5000},  # too long
        {"licence.business_licence": "EL1:forged"},  # not a licence at all: refused unread
    ],
    ids=["missing", "too-long", "garbage-citation"],
)
def test_a_refused_web_application_leaves_no_client_row(
    any_world: World, browser: TestClient, over: dict[str, Any]
) -> None:
    r = _apply(browser, any_world, **over)
    assert 400 <= r.status_code < 500, r.text[-2000:]
    assert _web_rows(any_world) == 0
    assert any_world.svc.hall.cases(any_world.client("th_amr")) == []


def test_the_row_comes_with_the_first_case_and_is_kept_once(
    any_world: World, browser: TestClient
) -> None:
    assert _web_rows(any_world) == 0
    first = _apply(browser, any_world)
    assert first.status_code == 303, first.text[-2000:]
    assert _web_rows(any_world) == 1
    assert _web_usage(any_world) == 1  # the citation's check names the holder's row
    second = _apply(browser, any_world)
    assert second.status_code == 303, second.text[-2000:]
    assert _web_rows(any_world) == 1
    with any_world.svc.registry.read() as c:
        row = c.execute(select(CLIENTS).where(CLIENTS.c.id == WEB_ID)).one()
    assert row.disabled_at is not None and not row.key_hash.startswith(("el_", "sk"))
    assert (row.holder_id_type, row.holder_id) == ("001", ORG)


def test_a_refused_citation_keeps_its_usage_record_and_the_row_it_names(
    any_world: World, browser: TestClient
) -> None:
    """Every check of a citation is a usage record, a refused submission's too (without a case
    number): those records name the holder's row, so it is written with them."""
    r = _apply(browser, any_world, **{"licence.business_licence": any_world.idents["biz2"]})
    assert r.status_code == 403, r.text[-2000:]
    assert any_world.svc.hall.cases(any_world.client("th_amr")) == []
    assert _web_usage(any_world) == 1
    assert _web_rows(any_world) == 1


# -- notices (办事提示): read on the phone, read on the PC ------------------------------------------

COUNT = 'class="count"'


def test_notices_read_in_one_browser_are_read_in_every_browser_of_the_holder(
    any_world: World, browser: TestClient
) -> None:
    w = any_world
    first = _apply(browser, w)
    assert first.status_code == 303, first.text[-2000:]
    number = first.headers["location"].split("/")[-1].split("?")[0]
    w.drive(number, "accept", "start-review", who="th_amr")
    w.step("th_amr", number, "request-supplement", "请补充平面图比例尺")
    with web_browser(w) as pc:
        assert sign_in_holder(pc, "001", ORG, ORG_NAME).status_code == 200
        assert 'aria-label="1 条未读 unread"' in pc.get("/me").text
        assert 'aria-label="1 条未读 unread"' in browser.get("/me").text
        phone = browser.get("/me/notices").text  # read on the phone
        assert "请补充平面图比例尺" in phone and '新 <span lang="en">new</span>' in phone
        assert COUNT not in browser.get("/me").text
        assert COUNT not in pc.get("/me").text  # and so on the PC
        assert COUNT not in pc.get("/services").text
        on_pc = pc.get("/me/notices").text  # still listed there, no longer new
        assert "请补充平面图比例尺" in on_pc and '新 <span lang="en">new</span>' not in on_pc
        # a new notice (the case decided) is unread in both again; the old one stays read
        page = browser.get(f"/me/cases/{number}")
        r = browser.post(
            f"/me/cases/{number}/supplement",
            data={"csrf": csrf_of(page.text), "note": "已补充"},
            files={"upload.premises_layout": ("l.pdf", PDF, "application/pdf")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text[-2000:]
        assert w.step("th_amr", number, "refuse", "不符合条件").status_code == 200
        assert 'aria-label="1 条未读 unread"' in pc.get("/me").text
        assert 'aria-label="1 条未读 unread"' in browser.get("/me").text
        # signing out and in again keeps what was read: it is the holder's, not the cookie's
        pc.get("/me/notices")
        pc.cookies.clear()
        assert sign_in_holder(pc, "001", ORG, ORG_NAME).status_code == 200
        assert COUNT not in pc.get("/me").text
        assert COUNT not in browser.get("/me").text
    with web_browser(w) as other:  # another holder has its own state (and sees nothing of these)
        assert sign_in_holder(other, "001", ORG2, "另一家公司").status_code == 200
        assert COUNT not in other.get("/me").text


# -- the terminal's idle sign-out, on the server ----------------------------------------------------

SIGNED_OUT = "统一身份认证登录"  # the holder's sign-in page


def _terminal(world: World) -> TestClient:
    c = web_browser(world)
    r = c.get("/terminal", follow_redirects=False)
    assert r.status_code == 303 and "elicence_terminal=1" in r.headers["set-cookie"]
    return c


def test_a_session_signed_in_at_a_terminal_ends_two_minutes_after_its_last_request(
    world: World, clock: Clock
) -> None:
    with _terminal(world) as kiosk, web_browser(world) as pc:
        assert sign_in_holder(kiosk, "001", ORG, ORG_NAME).status_code == 200
        assert sign_in_holder(pc, "001", ORG, ORG_NAME).status_code == 200
        assert ORG_NAME in kiosk.get("/me").text
        for _ in range(3):  # used within 2 minutes: kept, each request counting
            clock.advance(seconds=110)
            assert ORG_NAME in kiosk.get("/me").text
        cookie = kiosk.cookies.get("elicence_session")
        clock.advance(seconds=121)
        page = kiosk.get("/me")
        assert SIGNED_OUT in page.text and ORG_NAME not in page.text
        # the cookie a walked-away terminal kept is dead, in any browser, terminal or not
        with web_browser(world) as thief:
            thief.cookies.set("elicence_session", str(cookie))
            assert SIGNED_OUT in thief.get("/me").text
        # a session signed in elsewhere keeps the service's idle limit (30 minutes)
        assert ORG_NAME in pc.get("/me").text


def test_a_clerk_signed_in_at_a_terminal_is_signed_out_too(world: World, clock: Clock) -> None:
    with _terminal(world) as kiosk:
        page = sign_in_key(kiosk, world.keys["th_amr"], "/queue")
        assert page.status_code == 200 and "办件工作台" in page.text
        assert 'class="terminal"' in page.text
        # the terminal's cookie gone, the session keeps its limit: it is in the signed session
        kiosk.cookies.delete("elicence_terminal")
        clock.advance(seconds=121)
        r = kiosk.get("/queue", follow_redirects=False)
        assert r.status_code == 303 and "/signin" in r.headers["location"]


def test_a_touch_on_the_terminal_keeps_the_session_and_needs_the_csrf_token(
    world: World, clock: Clock
) -> None:
    with _terminal(world) as kiosk:
        page = sign_in_holder(kiosk, "001", ORG, ORG_NAME)
        assert 'data-alive="/terminal/alive"' in page.text and 'data-idle="120"' in page.text
        csrf = csrf_of(page.text)
        clock.advance(seconds=100)  # typing a long form: no page requested
        assert kiosk.post("/terminal/alive").status_code in (401, 422)  # no token
        assert kiosk.post("/terminal/alive", headers={"X-CSRF-Token": "forged"}).status_code == 401
        r = kiosk.post("/terminal/alive", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 204, r.text
        clock.advance(seconds=100)  # 200 s after the page, 100 s after the touch
        assert ORG_NAME in kiosk.get("/me").text
        clock.advance(seconds=121)
        gone = kiosk.post("/terminal/alive", headers={"X-CSRF-Token": csrf})
        assert gone.status_code == 401  # the script clears the screen on this
