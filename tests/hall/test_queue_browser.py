"""The clerk's pages in a real browser (issue 18), on SQLite and PostgreSQL: a department's
clerk signs in with its key, opens the queue, works a case to approval — the licence data
pre-filled from the application — by keyboard alone; every page checked with axe-core (no
serious or critical violation) and photographed at 390×844, 1280×800 and 1080×1920 (the hall's
terminal) into ``artifacts/``. And the holder's licence page shows the live code above the
fold of a 390×844 phone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.domain.clients import Client, Role
from elicence.domain.licence import HolderRef
from elicence.hall.cases import UploadIn
from elicence.hall.items_file import DEMO_ITEMS, load_items
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from tests.browser import DESKTOP, PHONE, TERMINAL, axe, free_socket, new_page, serving, shoot
from tests.conftest import PASSPHRASE, Clock, truncate_postgres
from tests.hall.conftest import ORG, RESTAURANT, TH_AMR, business_licence

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAYOUT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "layout.pdf"
SIZES = (PHONE, DESKTOP, TERMINAL)


@dataclass
class Office:
    url: str
    svc: Elicence
    clerk_key: str
    number: str
    business: str  # the identifier of the applicant's business licence


def _form() -> dict[str, str]:
    return {
        "legal_representative": "张三",
        "residence": "广州市天河区天河路385号",
        "business_premises": "广州市天河区天河路385号首层101铺",
        "main_business_format": "餐饮服务经营者",
        "business_items": "热食类食品制售",
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def office(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keys_dir: Path,
    clock: Clock,
    demo_catalogue: Any,
) -> Iterator[Office]:
    """A served hall whose base URL is the server, a case of the restaurant item submitted."""
    pg = request.param == "postgres"
    url_db = request.getfixturevalue("postgres_url") if pg else f"sqlite:///{tmp_path / 'r.db'}"
    sock, url = free_socket()
    registry = Registry.from_url(url_db)
    registry.upgrade()
    if registry.catalogue_version() is None:
        registry.save_catalogue(demo_catalogue, now=clock())
    svc = assemble(
        registry=registry,
        keystore=KeyStore(keys_dir, scrypt_log2_n=10),
        passphrase=PASSPHRASE,
        public_base_url=url,
        clock=clock,
    )
    try:
        svc.hall.import_items(load_items(DEMO_ITEMS))
        clerk = svc.clients.add(name="天河区市场监管窗口", role=Role.DEPARTMENT, department=TH_AMR)
        org = svc.clients.add(
            name="广州市天河区某某餐饮管理有限公司",
            role=Role.HOLDER,
            department=None,
            holder=HolderRef.parse(f"001:{ORG}"),
        )
        lic = svc.licences.issue(
            Client("t", "t", Role.DEPARTMENT, TH_AMR), business_licence("B-BROWSER-1")
        ).licence
        case = svc.hall.submit(
            svc.clients.authenticate(org.api_key),
            {
                "item_code": RESTAURANT,
                "form": _form(),
                "licences": [{"material": "business_licence", "identifier": lic.identifier}],
            },
            [UploadIn("premises_layout", "layout.pdf", "application/pdf", LAYOUT.read_bytes())],
        )
        with serving(create_app(svc), sock):
            yield Office(url, svc, clerk.api_key, case.number, lic.identifier)
    finally:
        if pg:
            truncate_postgres(url_db)
        registry.dispose()


def _check(page: Any, name: str) -> None:
    axe(page)
    shoot(page, name, prefix="clerk", sizes=SIZES)
    assert page.problems == [], page.problems


def _tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until ``selector`` has the focus (as a keyboard user would), failing if it
    never does."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    pytest.fail(f"{selector} cannot be reached with the Tab key")


def test_a_clerk_works_a_case_to_approval_by_keyboard(office: Office, chromium: Any) -> None:
    page = new_page(chromium)
    try:
        page.goto(f"{office.url}/queue")
        page.wait_for_selector("#api_key")
        _tab_to(page, "#api_key")
        page.keyboard.type(office.clerk_key)
        page.keyboard.press("Enter")
        page.wait_for_selector("h1:has-text('办件工作台')")
        _check(page, "queue")

        _tab_to(page, f"a[href='/queue/cases/{office.number}']")
        page.keyboard.press("Enter")
        page.wait_for_selector("#case-status")
        assert "刚才核验：有效" in page.inner_text("main")
        _check(page, "case-submitted")

        for step, state in (("accept", "已受理"), ("start_review", "审查中")):
            _tab_to(page, f"#step-{step}")
            page.keyboard.press("Enter")
            page.wait_for_selector(f"#case-status:has-text('{state}')")
        _check(page, "case-under-review")
        # approval: the permit's data pre-filled from the application
        assert page.input_value("#data-business_premises") == _form()["business_premises"]
        _tab_to(page, "#licence_number")
        page.keyboard.type("JY14401060000321")
        _tab_to(page, "#approve")
        page.keyboard.press("Enter")
        page.wait_for_selector("#issued", timeout=60_000)
        _check(page, "case-approved")
        case = office.svc.hall.case(Client("t", "t", Role.ADMIN, None), office.number)
        assert case.status == "approved" and case.licence == page.inner_text("#issued")
        lic = office.svc.registry.licence(case.licence)
        assert lic is not None and lic.licence_number == "JY14401060000321"
        assert lic.holder.id_number == ORG
    finally:
        page.context.close()


def test_the_window_page_at_three_sizes(office: Office, chromium: Any) -> None:
    page = new_page(chromium)
    try:
        page.goto(f"{office.url}/signin?next=/queue/window%3Fitem%3D440106-SCJ-0001")
        page.fill("#api_key", office.clerk_key)
        page.click("button:has-text('登录')")
        page.wait_for_selector("#window-form")
        _check(page, "window")
    finally:
        page.context.close()


def test_the_live_code_is_above_the_fold_on_a_phone(office: Office, chromium: Any) -> None:
    page = new_page(chromium, viewport=PHONE)
    try:
        page.goto(f"{office.url}/me")
        page.click("text=统一身份认证登录")
        page.wait_for_selector("text=演示统一身份认证平台")
        page.click("button:has-text('广州市天河区某某餐饮管理有限公司')")
        page.wait_for_selector(".cards .card")
        page.goto(f"{office.url}/me/licences/{office.business}")
        page.wait_for_function(
            "() => { const i = document.getElementById('live-img'); "
            "return i.complete && i.naturalWidth > 0; }",
            timeout=60_000,
        )
        box = page.locator("#live-img").bounding_box()
        caption = page.locator("#live-until").bounding_box()
        assert box is not None and caption is not None
        assert box["y"] + box["height"] <= PHONE["height"], box  # the whole code is in view
        assert caption["y"] + caption["height"] <= PHONE["height"], caption
        axe(page)
        shoot(page, "licence-phone", prefix="clerk", sizes=(PHONE,))
    finally:
        page.context.close()


# every control a finger uses on the clerk's pages at a terminal, with its height in CSS pixels
_TARGETS = """() => [...document.querySelectorAll(
  'main a, main button, main select, main input:not([type=hidden]), main textarea, main summary'
)].filter(e => e.offsetParent !== null).map(e => {
  const r = e.getBoundingClientRect();
  return [e.tagName + (e.id ? '#' + e.id : '') + ' ' + (e.textContent || '').trim().slice(0, 20),
          Math.round(r.height)];
})"""


def test_the_clerks_pages_at_a_terminal_have_large_targets_and_the_pdf_preview(
    office: Office, chromium: Any
) -> None:
    """At a hall's terminal (1080×1920 portrait touch) every target of the queue, the case page
    and the window page is at least 44 px tall (the terminal's own are 56-64 px), nothing is
    only reachable by hovering, and the case page shows the PDF upload's preview image."""
    page = new_page(chromium, viewport=TERMINAL)
    try:
        page.goto(f"{office.url}/terminal")
        page.goto(f"{office.url}/signin?next=/queue")
        page.fill("#api_key", office.clerk_key)
        page.click("button:has-text('登录')")
        page.wait_for_selector("h1:has-text('办件工作台')")
        assert page.evaluate("document.body.classList.contains('terminal')")
        assert page.evaluate("document.body.dataset.home") == "/queue"
        for path in ("/queue", f"/queue/cases/{office.number}", "/queue/window"):
            page.goto(f"{office.url}{path}")
            small = [t for t in page.evaluate(_TARGETS) if t[1] < 44]
            assert small == [], (path, small)
        page.goto(f"{office.url}/queue/cases/{office.number}")
        page.wait_for_function(
            "() => { const i = document.querySelector('img.preview.pdf'); "
            "return i && i.complete && i.naturalWidth === 900; }",
            timeout=60_000,
        )
        width = page.evaluate("document.querySelector('img.preview.pdf').clientWidth")
        assert width > 600  # the page's width, not a thumbnail
        axe(page)
        shoot(page, "case-terminal", prefix="clerk", sizes=(TERMINAL,))
        assert page.problems == [], page.problems
    finally:
        page.context.close()
