"""The citizen's journey through the hall in headless Chromium (issue 18), on SQLite and
PostgreSQL, at phone (390×844), PC (1280×800) and self-service terminal (1080×1920) size.

A citizen signs in with the demo provider, finds 我要开餐馆 from the services page, applies
citing its business licence with one tap and uploading a layout; a clerk works the case through
to approval (through the hall's facade: the clerk's pages are another part of the issue); the
citizen gets the notice, sees the food permit in its licences, downloads its PDF (checked by
``pdfsig``) and rates the case; ``/dashboard`` shows it. A second application shows the name, id
and earlier values filled in and offers the earlier upload. Every page is checked with axe-core
(no serious or critical violation) and photographed at the three sizes into ``artifacts/``; at a
terminal, two idle minutes sign out and clear the screen. Keyboard only: the form is filled and
sent with the keyboard alone.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.domain.clients import Role
from elicence.hall.items_file import DEMO_ITEMS, load_items
from elicence.hall.workflow import CaseAction
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from tests.browser import ARTIFACTS, PHONE, TERMINAL, axe, fits, free_socket, new_page, serving
from tests.browser import DESKTOP as PC
from tests.conftest import PASSPHRASE, Clock
from tests.hall.conftest import ORG, PDF, RESTAURANT, TH_AMR, business_licence
from tests.hall.web import ORG_NAME

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = (PHONE, PC, TERMINAL)


@dataclass
class Site:
    url: str
    service: Elicence
    business: str  # the identifier of ORG's business licence


def _serve(registry: Registry, keys: Path, clock: Clock, catalogue: Any) -> Iterator[Site]:
    sock, url = free_socket()
    registry.upgrade()
    if registry.catalogue_version() is None:
        registry.save_catalogue(catalogue, now=clock())
    svc = assemble(
        registry=registry,
        keystore=KeyStore(keys, scrypt_log2_n=10),
        passphrase=PASSPHRASE,
        public_base_url=url,
        clock=clock,
    )
    svc.hall.import_items(load_items(DEMO_ITEMS))
    amr = svc.clients.add(name="天河区市场监督管理局", role=Role.DEPARTMENT, department=TH_AMR)
    clerk = svc.clients.authenticate(amr.api_key)
    business = svc.licences.issue(clerk, business_licence("B-BIZ-1")).licence.identifier
    try:
        with serving(create_app(svc), sock):
            yield Site(url, svc, business)
    finally:
        registry.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keys_dir: Path,
    clock: Clock,
    demo_catalogue: Any,
) -> Iterator[Site]:
    if request.param == "sqlite":
        registry = Registry.from_url(f"sqlite:///{tmp_path / 'registry.db'}")
        yield from _serve(registry, keys_dir, clock, demo_catalogue)
        return
    from tests.conftest import truncate_postgres

    url: str = request.getfixturevalue("postgres_url")
    try:
        yield from _serve(Registry.from_url(url), keys_dir, clock, demo_catalogue)
    finally:
        truncate_postgres(url)


def _check(page: Any, name: str, prefix: str) -> None:
    """axe-core and a screenshot at each of the three sizes, each fitting its width."""
    ARTIFACTS.mkdir(exist_ok=True)
    start = page.viewport_size
    for size in SIZES:
        page.set_viewport_size(size)
        fits(page)
        axe(page)
        path = ARTIFACTS / f"{prefix}-{name}-{size['width']}x{size['height']}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5_000
    page.set_viewport_size(start)
    assert page.problems == [], page.problems


def _clerk_works_it_through(site: Site, number: str) -> None:
    """What the clerk's pages do, through the hall's facade: accept, review, approve, complete."""
    svc = site.service
    clerk = next(c for c in svc.clients.all() if c.department == TH_AMR)
    client = svc.holder.client(clerk.id)
    assert client is not None
    svc.hall.act(client, number, CaseAction.ACCEPT)
    svc.hall.act(client, number, CaseAction.START_REVIEW)
    svc.hall.approve(client, number, {})
    svc.hall.act(client, number, CaseAction.COMPLETE)


def _journey(page: Any, site: Site, tmp_path: Path, prefix: str) -> None:
    url = site.url
    page.goto(f"{url}/services")
    _check(page, "services", prefix)
    page.click("text=我要开餐馆")
    page.wait_for_selector("h1:has-text('我要开餐馆')")
    _check(page, "scenario", prefix)
    page.click(f"a[href='/services/{RESTAURANT}']")
    page.wait_for_selector("text=免交纸质原件及复印件")
    _check(page, "guide", prefix)
    page.click("text=网上申办")
    page.wait_for_selector("text=统一身份认证登录")
    page.click("text=统一身份认证登录")
    page.wait_for_selector("text=演示统一身份认证平台")
    page.click(f"button:has-text('{ORG_NAME}')")
    page.wait_for_selector("h1:has-text('网上申办')")
    text = page.inner_text("main")
    assert ORG_NAME in text and ORG in text  # from the sign-in
    _check(page, "apply", prefix)

    # one tap on the business licence; the form typed; the layout uploaded
    page.check(f"input[name='licence.business_licence'][value='{site.business}']")
    for name, value in {
        "legal_representative": "张三",
        "residence": "广州市天河区天河路385号",
        "business_premises": "广州市天河区天河路385号首层101铺",
        "main_business_format": "餐饮服务经营者",
        "business_items": "热食类食品制售",
    }.items():
        page.fill(f"[name='form.{name}']", value)
    layout = tmp_path / "layout.pdf"
    layout.write_bytes(PDF)
    page.set_input_files("[name='upload.premises_layout']", str(layout))
    page.click("button:has-text('提交申请')")
    page.wait_for_selector(".receipt")
    receipt = page.inner_text(".receipt")
    number = page.url.split("/me/cases/")[1].split("?")[0]
    assert number[:-1] in receipt.replace(" ", "") and "10 个工作日" in receipt
    _check(page, "submitted", prefix)

    _clerk_works_it_through(site, number)

    page.goto(f"{url}/me/notices")
    assert "准予许可" in page.inner_text("main") or "办结" in page.inner_text("main")
    assert page.inner_text(".tabs .count").strip() != ""  # the count in the tabs
    _check(page, "notices", prefix)
    page.goto(f"{url}/me/cases")
    _check(page, "cases", prefix)
    page.click(f"a[href='/me/cases/{number}']")
    page.wait_for_selector("text=已签发电子证照")
    _check(page, "case-done", prefix)
    with page.expect_download() as download:
        page.click("text=下载签名 PDF")
    pdf = tmp_path / "permit.pdf"
    download.value.save_as(pdf)
    pdfsig = shutil.which("pdfsig")
    assert pdfsig, "pdfsig (poppler-utils) is needed"
    out = subprocess.run([pdfsig, str(pdf)], capture_output=True, text=True, check=False)
    assert "Signature #1" in out.stdout, out.stdout + out.stderr

    # rate it (four dimensions and the overall stars), once
    for field in ("stars", "dim.guidance", "dim.application", "dim.visits", "dim.result"):
        page.check(f"input[name='{field}'][value='5']")
    page.fill("#comment", "全程网上办理，很方便")
    page.click("button:has-text('提交评价')")
    page.wait_for_selector("text=感谢您的评价")
    assert "您已评价：5 星" in page.inner_text("main")

    page.goto(f"{url}/me")
    assert "食品经营许可证" in page.inner_text("main")  # the permit among my licences

    # the second application remembers
    page.goto(f"{url}/services/{RESTAURANT}/apply")
    assert page.input_value("[name='form.business_premises']") == "广州市天河区天河路385号首层101铺"
    assert page.is_visible(
        f"input[name='reuse.premises_layout'][value='{hashlib.sha256(PDF).hexdigest()}']"
    )
    _check(page, "apply-again", prefix)

    # the bundle in one form (一条龙): the business licence once, each item's own under it
    page.goto(f"{url}/services/scenarios/open-restaurant/apply")
    assert page.locator("[name='licence.business_licence']").count() >= 1
    assert page.is_visible("[name='i1.form.floor_area']")
    _check(page, "bundle", prefix)

    page.goto(f"{url}/dashboard")
    assert "天河区市场监督管理局" in page.inner_text("main")


def test_the_citizen_journey_on_a_phone(site: Site, chromium: Any, tmp_path: Path) -> None:
    page = new_page(chromium, PHONE, accept_downloads=True)
    try:
        _journey(page, site, tmp_path, "citizen")
        page.goto(f"{site.url}/progress")
        _check(page, "progress", "citizen")
    finally:
        page.context.close()


def test_the_citizen_journey_at_a_terminal_ends_in_an_idle_sign_out(
    site: Site, chromium: Any, tmp_path: Path
) -> None:
    page = new_page(chromium, TERMINAL, accept_downloads=True)
    try:
        page.clock.install()
        page.goto(f"{site.url}/terminal")
        assert page.evaluate("document.body.classList.contains('terminal')")
        _journey(page, site, tmp_path, "terminal")
        page.goto(f"{site.url}/me/cases")
        assert ORG_NAME in page.inner_text("header")
        page.clock.fast_forward("01:59")
        assert ORG_NAME in page.inner_text("header")  # not yet
        with page.expect_navigation():
            page.clock.fast_forward("00:02")
        page.wait_for_load_state()
        assert ORG_NAME not in page.inner_text("body")
        page.goto(f"{site.url}/me/cases")
        assert "统一身份认证登录" in page.inner_text("main")  # signed out
    finally:
        page.context.close()


def test_the_application_form_works_with_the_keyboard_alone(
    site: Site, chromium: Any, tmp_path: Path
) -> None:
    page = new_page(chromium, PC)
    try:
        page.goto(f"{site.url}/services/{RESTAURANT}/apply")
        page.click("text=统一身份认证登录")
        page.click(f"button:has-text('{ORG_NAME}')")
        page.wait_for_selector("h1:has-text('网上申办')")
        page.focus("[name='form.legal_representative']")
        for value in ("张三", "广州市天河区天河路385号", "首层101铺", "餐饮服务经营者", "热食类"):
            page.keyboard.insert_text(value)
            page.keyboard.press("Tab")
        # the optional phone, then the licence radio (checked already: one tap, or none)
        focused = page.evaluate("document.activeElement.name")
        assert focused == "form.contact_phone", focused
        # sending without the required upload: the field's error, reached by keyboard
        page.focus("button:has-text('提交申请')")
        page.keyboard.press("Enter")
        page.wait_for_selector("#e-upload\\.premises_layout")
        assert page.input_value("[name='form.business_items']") == "热食类"  # kept
        page.focus("#err-summary a")
        page.keyboard.press("Enter")
        assert page.evaluate("location.hash") == "#f-upload.premises_layout"
        refused = "the server responded with a status of 422"  # the form's answer, as meant
        assert [p for p in page.problems if refused not in p] == [], page.problems
    finally:
        page.context.close()
