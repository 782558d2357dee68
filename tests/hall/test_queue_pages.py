"""The clerk's work queue and case page without a browser (issue 18): a department's clerk signs
in with its key, sees the cases waiting on it by state with working days left and the overdue
first and marked, filters them, opens a case (the cited licences re-checked, the uploads shown),
and works it to approval with the licence data pre-filled from the form; every POST needs the
CSRF token; a refused step stores nothing; a department sees only its own cases; on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.domain.grants import GranteeKind
from elicence.issuer.lifecycle import Action
from tests.conftest import Clock
from tests.hall.conftest import ORG, PDF, PNG, World
from tests.holder.web import csrf_of, form_fields, sign_in_key

BASE = "https://hall.example.gov.cn"  # the service's public address: cookies are Secure there


@pytest.fixture
def clerk(any_world: World) -> Iterator[TestClient]:
    """A browser-like client signed in as the district's market regulator (天河区市场监管局)."""
    with TestClient(create_app(any_world.svc), base_url=BASE, raise_server_exceptions=False) as c:
        page = sign_in_key(c, any_world.keys["th_amr"], "/queue")
        assert page.status_code == 200, page.text
        yield c


def _numbers(page: str) -> list[str]:
    return re.findall(r'href="/queue/cases/([0-9A-Z]{21})"', page)


def test_the_queue_lists_waiting_cases_by_state_overdue_first(
    any_world: World, clerk: TestClient, clock: Clock
) -> None:
    w = any_world
    late = w.open_restaurant_case()
    w.drive(late, "accept")
    fresh = w.open_restaurant_case()
    clock.now += dt.timedelta(days=30)  # the first case's 10 working days have passed
    w.drive(fresh, "accept")
    waiting = w.open_restaurant_case()
    page = sign_in_key(clerk, w.keys["th_amr"], "/queue")  # the session ended with the days
    assert page.status_code == 200, page.text
    # the overdue first, then by state (submitted before accepted)
    assert _numbers(page.text) == [late, waiting, fresh]
    text = html.unescape(page.text)
    assert "已超期" in text and "剩余 10 个工作日" in text and "超期 1 件" in text
    assert re.search(rf'class="card late">\s*<h3><a href="/queue/cases/{late}"', page.text)
    # filters: by state, by item
    only = clerk.get("/queue", params={"status": "submitted"})
    assert _numbers(only.text) == [waiting]
    none = clerk.get("/queue", params={"item": "440106-XF-0001"})
    assert _numbers(none.text) == []
    bad = clerk.get("/queue", params={"status": "nonsense"})
    assert bad.status_code == 422 and "status" in bad.text


def test_a_department_sees_only_its_own_cases(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    with TestClient(create_app(w.svc), base_url=BASE, raise_server_exceptions=False) as other:
        sign_in_key(other, w.keys["th_fire"], "/queue")
        assert number not in other.get("/queue").text
        assert other.get(f"/queue/cases/{number}").status_code == 404
        assert other.get(f"/queue/cases/{number}/uploads/premises_layout").status_code == 404
    with TestClient(create_app(w.svc), base_url=BASE, raise_server_exceptions=False) as holder:
        r = holder.get("/queue", follow_redirects=False)
        assert r.status_code == 303 and "/signin" in r.headers["location"]


def test_a_clerk_works_a_case_to_approval_on_the_pages(any_world: World, clerk: TestClient) -> None:
    w = any_world
    number = w.open_restaurant_case()
    page = clerk.get(f"/queue/cases/{number}")
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "刚才核验：有效" in text and "营业执照" in text  # the cited licence checked now
    assert f"/queue/cases/{number}/uploads/premises_layout" in page.text
    upload = clerk.get(f"/queue/cases/{number}/uploads/premises_layout")
    assert upload.status_code == 200 and upload.content.startswith(b"%PDF-")
    assert upload.headers["content-type"] == "application/pdf"
    assert upload.headers["content-disposition"].startswith("inline")
    assert "sandbox" in upload.headers["content-security-policy"]
    for action in ("accept", "start_review"):
        fields = form_fields(page.text, f"/queue/cases/{number}/step")
        assert 'value="accept"' in page.text or action != "accept"
        r = clerk.post(
            f"/queue/cases/{number}/step", data={"csrf": fields["csrf"], "action": action}
        )
        assert r.status_code == 200, r.text  # the redirect followed: the case page again
        page = r
    assert w.svc.hall.case(w.client("th_amr"), number).status == "under_review"
    # approval: the licence data pre-filled from the form
    approve = form_fields(page.text, f"/queue/cases/{number}/approve")
    assert approve["data.business_premises"] == "广州市天河区天河路385号首层101铺"
    assert approve["data.legal_representative"] == "张三"
    approve["licence_number"] = "JY14401060000999"
    r = clerk.post(f"/queue/cases/{number}/approve", data=approve)
    assert r.status_code == 200, r.text
    case = w.svc.hall.case(w.client("th_amr"), number)
    assert case.status == "approved" and case.licence is not None
    lic = w.svc.registry.licence(case.licence)
    assert lic is not None and lic.licence_number == "JY14401060000999"
    assert "已准予许可" in r.text and case.licence in r.text
    # complete, and count a visit on the way
    r = clerk.post(f"/queue/cases/{number}/visit", data={"csrf": csrf_of(r.text)})
    assert r.status_code == 200 and w.svc.hall.case(w.client("th_amr"), number).visits == 1
    r = clerk.post(
        f"/queue/cases/{number}/step", data={"csrf": csrf_of(r.text), "action": "complete"}
    )
    assert w.svc.hall.case(w.client("th_amr"), number).status == "completed"


def test_a_step_that_needs_a_reason_asks_for_it_and_stores_nothing_without(
    any_world: World, clerk: TestClient
) -> None:
    w = any_world
    number = w.open_restaurant_case()
    page = clerk.get(f"/queue/cases/{number}")
    assert 'id="reason-reject"' in page.text and "required" in page.text
    r = clerk.post(
        f"/queue/cases/{number}/step", data={"csrf": csrf_of(page.text), "action": "reject"}
    )
    assert r.status_code == 422 and "reason" in r.text
    assert "理由" in html.unescape(r.text)
    assert w.svc.hall.case(w.client("th_amr"), number).status == "submitted"
    r = clerk.post(
        f"/queue/cases/{number}/step",
        data={"csrf": csrf_of(page.text), "action": "reject", "reason": "材料不齐"},
    )
    assert r.status_code == 200 and w.svc.hall.case(w.client("th_amr"), number).status == "rejected"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("step", {"action": "accept"}),
        ("approve", {}),
        ("visit", {}),
        ("recheck", {}),
    ],
    ids=["step", "approve", "visit", "recheck"],
)
def test_every_post_needs_the_csrf_token(
    any_world: World, clerk: TestClient, path: str, data: dict[str, str]
) -> None:
    w = any_world
    number = w.open_restaurant_case()
    before = w.svc.hall.case(w.client("th_amr"), number)
    for token in (None, "forged"):
        body = dict(data) if token is None else {**data, "csrf": token}
        r = clerk.post(f"/queue/cases/{number}/{path}", data=body)
        assert r.status_code in (401, 422), (path, r.status_code)
    assert w.svc.hall.case(w.client("th_amr"), number) == before


def test_bad_input_stores_nothing(any_world: World, clerk: TestClient) -> None:
    w = any_world
    number = w.open_restaurant_case()
    page = clerk.get(f"/queue/cases/{number}")
    csrf = csrf_of(page.text)
    before = w.svc.hall.case(w.client("th_amr"), number)
    for action in ("approve_and_issue", "supplement", "nonsense", "x" * 5000, ""):
        r = clerk.post(f"/queue/cases/{number}/step", data={"csrf": csrf, "action": action})
        assert r.status_code == 422, (action, r.status_code)

    r = clerk.post(
        f"/queue/cases/{number}/step",
        data={"csrf": csrf, "action": "reject", "reason": "x" * 100_000},
    )
    assert 400 <= r.status_code < 500
    r = clerk.post(f"/queue/cases/{number}/step", data={"csrf": csrf, "action": "start_review"})
    assert r.status_code == 409  # not accepted yet
    assert w.svc.hall.case(w.client("th_amr"), number) == before
    # a lone surrogate (U+D800 as WTF-8) never reaches the store as one
    lone_surrogate = f"csrf={csrf}&action=reject&reason=%ED%A0%80"
    r = clerk.post(
        f"/queue/cases/{number}/step",
        content=lone_surrogate.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code in (200, 422)
    reason = w.svc.hall.case(w.client("th_amr"), number).reason or ""
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in reason)


def test_a_revoked_citation_shows_on_opening_and_on_the_recheck(
    any_world: World, clerk: TestClient
) -> None:
    w = any_world
    number = w.open_restaurant_case()
    page = clerk.get(f"/queue/cases/{number}")
    assert "刚才核验：有效" in html.unescape(page.text)
    from elicence.domain.clients import Client, Role
    from tests.hall.conftest import TH_AMR

    w.svc.licences.change_status(
        Client("t", "t", Role.DEPARTMENT, TH_AMR), w.idents["biz"], Action.REVOKE, reason="test"
    )
    r = clerk.post(f"/queue/cases/{number}/recheck", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200
    text = html.unescape(r.text)
    assert "刚才核验：已注销" in text and "提交时" in text


def test_the_case_pages_checks_are_usage_records_naming_the_case(
    any_world: World, clerk: TestClient
) -> None:
    """Opening the case page and the re-check button each verify the cited licence again: every
    such check is a usage record (用证记录) under the clerk's client, naming the case."""
    w = any_world
    number = w.open_restaurant_case()
    biz = w.idents["biz"]
    before = w.svc.registry.usage(identifier=biz)
    page = clerk.get(f"/queue/cases/{number}")
    assert page.status_code == 200
    r = clerk.post(f"/queue/cases/{number}/recheck", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200
    after = w.svc.registry.usage(identifier=biz)  # newest first
    new = after[: len(after) - len(before)]
    assert len(new) == 2
    assert {(u["client_id"], u["case_number"]) for u in new} == {(w.client("th_amr").id, number)}
    by_case = w.svc.registry.usage(case_number=number)
    assert [u["client_id"] for u in by_case] == [w.client("th_amr").id] * 2 + [w.client("org").id]


def test_an_image_upload_is_shown_inline(any_world: World, clerk: TestClient) -> None:
    w = any_world
    r = w.submit("org", w.restaurant(), {"premises_layout": ("layout.png", PNG, "image/png")})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    page = clerk.get(f"/queue/cases/{number}")
    assert re.search(
        rf'<img class="preview" src="/queue/cases/{number}/uploads/premises_layout"', page.text
    )


def _real_pdf(pages: int) -> bytes:
    """A PDF PDFium renders: a black box on each A4 page (the conftest's PDF is only a head)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    for _ in range(pages):
        c.rect(100, 400, 300, 200, fill=1)
        c.showPage()
    c.save()
    return out.getvalue()


def test_a_pdf_upload_is_previewed_inside_the_case_page_as_an_image(
    any_world: World, clerk: TestClient
) -> None:
    w = any_world
    r = w.submit(
        "org", w.restaurant(), {"premises_layout": ("layout.pdf", _real_pdf(5), "application/pdf")}
    )
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    page = clerk.get(f"/queue/cases/{number}")
    src = f"/queue/cases/{number}/uploads/premises_layout/preview.png"
    assert re.search(rf'<img class="preview pdf" src="{src}" alt="[^"]+"', page.text)
    # the page frames nothing: its own policy stays as strict as every page's
    csp = page.headers["content-security-policy"]
    assert "frame-src" not in csp and "default-src 'none'" in csp and "img-src 'self'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    preview = clerk.get(src)
    assert preview.status_code == 200, preview.text
    assert preview.headers["content-type"] == "image/png"
    assert preview.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert preview.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert preview.headers["x-content-type-options"] == "nosniff"
    assert preview.headers["cache-control"] == "private, no-store"
    assert preview.headers["x-pdf-pages"] == "5"
    from PIL import Image

    image = Image.open(io.BytesIO(preview.content))
    assert image.width == 900 and image.height > 3 * 1200  # three A4 pages, one under another
    assert image.convert("L").getpixel((300, 600)) < 50  # the box drawn on the first page
    assert image.convert("L").getpixel((10, 10)) > 200
    # the file itself: the PDF as uploaded, with its own sandboxing policy
    raw = clerk.get(f"/queue/cases/{number}/uploads/premises_layout")
    assert raw.content.startswith(b"%PDF-") and raw.headers["content-type"] == "application/pdf"
    assert raw.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert raw.headers["content-disposition"].startswith("inline;")
    # another department's clerk gets no preview; a PDF PDFium cannot read is the field's error
    with TestClient(create_app(w.svc), base_url=BASE, raise_server_exceptions=False) as other:
        sign_in_key(other, w.keys["th_fire"], "/queue")
        assert other.get(src).status_code == 404
    broken = w.open_restaurant_case()  # the conftest's PDF: a head and nothing to draw
    bad = clerk.get(f"/queue/cases/{broken}/uploads/premises_layout/preview.png")
    assert bad.status_code == 422 and "uploads.premises_layout" in bad.text


def test_an_image_has_no_pdf_preview(any_world: World, clerk: TestClient) -> None:
    w = any_world
    r = w.submit("org", w.restaurant(), {"premises_layout": ("layout.png", PNG, "image/png")})
    number = r.json()["number"]
    bad = clerk.get(f"/queue/cases/{number}/uploads/premises_layout/preview.png")
    assert bad.status_code == 422 and "material" in bad.text


def test_the_clerks_pages_take_the_terminal_layout_at_a_terminal(
    any_world: World, clerk: TestClient
) -> None:
    w = any_world
    number = w.open_restaurant_case()
    pages = ("/queue", f"/queue/cases/{number}", "/queue/window")
    for path in pages:  # on a PC: no terminal layout, the file opens beside the page
        page = clerk.get(path)
        assert page.status_code == 200 and 'class="terminal"' not in page.text, path
    assert 'target="_blank"' in clerk.get(f"/queue/cases/{number}").text
    assert clerk.get("/terminal", follow_redirects=False).status_code == 303
    for path in pages:
        page = clerk.get(path)
        assert page.status_code == 200, path
        assert '<html lang="zh-CN" class="terminal">' in page.text, path
        assert 'data-home="/queue"' in page.text and 'data-idle="120"' in page.text, path
        assert "terminal.js" in page.text, path
        assert 'target="_blank"' not in page.text, path  # nothing opens out of the kiosk
    css = clerk.get(re.findall(r'href="(/static/site\.css[^"]*)"', page.text)[0]).text
    assert "body.terminal .queue h3 a" in css and ":hover" not in css


# -- the window (代办) ---------------------------------------------------------------------------


def _window_form(w: World, **over: str) -> dict[str, str]:
    body = w.restaurant()
    return {
        "item_code": body["item_code"],
        "name": "广州市天河区某某餐饮管理有限公司",
        "id_type": "001",
        "id_number": ORG,
        **{f"form.{k}": v for k, v in body["form"].items()},
        **over,
    }


def test_a_window_application_cites_the_licence_the_applicant_shows_as_a_live_code(
    any_world: World,
) -> None:
    w = any_world
    with TestClient(create_app(w.svc), base_url=BASE, raise_server_exceptions=False) as hall:
        page = sign_in_key(hall, w.keys["hall"], "/queue/window?item=440106-SCJ-0001")
        assert page.status_code == 200 and 'id="window-form"' in page.text
        code = w.svc.holder.present(w.client("org"), w.idents["biz"]).text
        before = len(w.svc.hall.cases(w.client("admin")))
        r = hall.post(
            "/queue/window",
            data={"csrf": csrf_of(page.text), **_window_form(w, **{"code.business_licence": code})},
            files={"premises_layout": ("layout.pdf", PDF, "application/pdf")},
        )
        assert r.status_code == 200, r.text
        cases = w.svc.hall.cases(w.client("admin"))
        assert len(cases) == before + 1
        case = cases[0] if cases[0].channel == "window" else cases[-1]
        assert case.channel == "window" and case.applicant.ref.id_number == ORG
        assert case.citations[0].identifier == w.idents["biz"]
        assert "已代办提交申请" in r.text
        # the same code again is used up: refused, nothing stored
        again = hall.post(
            "/queue/window",
            data={"csrf": csrf_of(r.text), **_window_form(w, **{"code.business_licence": code})},
            files={"premises_layout": ("layout.pdf", PDF, "application/pdf")},
        )
        assert again.status_code == 422 and "licences.business_licence" in again.text
        assert 'value="张三"' in again.text  # what was typed is kept
        assert len(w.svc.hall.cases(w.client("admin"))) == before + 1


def test_a_live_code_of_someone_else_is_refused_at_the_window(any_world: World) -> None:
    w = any_world
    with TestClient(create_app(w.svc), base_url=BASE, raise_server_exceptions=False) as hall:
        page = sign_in_key(hall, w.keys["hall"], "/queue/window?item=440106-SCJ-0001")
        code = w.svc.holder.present(w.client("org2"), w.idents["biz2"]).text
        before = len(w.svc.hall.cases(w.client("admin")))
        r = hall.post(
            "/queue/window",
            data={"csrf": csrf_of(page.text), **_window_form(w, **{"code.business_licence": code})},
            files={"premises_layout": ("layout.pdf", PDF, "application/pdf")},
        )
        assert r.status_code == 422 and "licences.business_licence" in r.text
        assert len(w.svc.hall.cases(w.client("admin"))) == before


def test_a_window_application_cites_a_grant_made_on_the_spot(any_world: World) -> None:
    w = any_world
    hall_client = w.client("hall")
    grant = w.svc.holder.grant(
        w.client("org"),
        identifier=w.idents["biz"],
        grantee_kind=GranteeKind.HALL,
        grantee=hall_client.id,
        purpose="窗口代办开办餐馆",
        valid_until=w.svc.clock() + dt.timedelta(days=30),
    )
    with TestClient(create_app(w.svc), base_url=BASE, raise_server_exceptions=False) as hall:
        page = sign_in_key(
            hall, w.keys["hall"], f"/queue/window?item=440106-SCJ-0001&id_type=001&id_number={ORG}"
        )
        assert f'<option value="{grant.id}">' in page.text
        r = hall.post(
            "/queue/window",
            data={
                "csrf": csrf_of(page.text),
                **_window_form(w, **{"grant.business_licence": grant.id}),
            },
            files={"premises_layout": ("layout.pdf", PDF, "application/pdf")},
        )
        assert r.status_code == 200, r.text
        number = re.search(r"办件 ([0-9A-Z]{21})", r.text)
        assert number is not None
        case = w.svc.hall.case(w.client("admin"), number.group(1))
        assert case.citations[0].identifier == w.idents["biz"]
