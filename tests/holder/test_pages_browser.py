"""The pages in a real browser: headless Chromium driven by Playwright against a uvicorn server.

Each page is checked with axe-core (tests/browser.py; vendored, see tests/vendor/axe-core/README.md): no violation of
impact serious or critical under WCAG 2.1 A and AA; it fits a phone's width; and it is
photographed at 390×844 and 1280×800 into ``artifacts/``. The holder signs in through the demo
provider's page like a person; the live code on the page is photographed and decoded with zbarimg
and accepted by the service; the desk scans through a BarcodeDetector (a stand-in where
Chromium has none) with a fake camera; the console previews (草稿), confirms and imports a file
with its progress shown.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.domain.licence import HolderRef, Licence
from tests.api.test_page_browser import _service
from tests.browser import (
    axe,
    free_socket,
    new_page,
    serving,
    shoot,
)
from tests.conftest import GZ_AMR, TH_CIVIL, Clock, food_permit, marriage
from tests.holder.conftest import ORG_X
from tests.tools import tool

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass
class Site:
    url: str
    service: Elicence
    food: Licence
    wedding: Licence
    hall_key: str
    dept_key: str


@pytest.fixture
def site(tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue: Any) -> Iterator[Site]:
    sock, url = free_socket()
    svc = _service(tmp_path / "registry.db", keys_dir, clock, demo_catalogue, url)
    dept = svc.add_client(name="广州市市场监督管理局", role=Role.DEPARTMENT, department=GZ_AMR)
    civil = svc.add_client(name="天河区民政局", role=Role.DEPARTMENT, department=TH_CIVIL).client
    hall = svc.add_client(name="天河区政务服务中心", role=Role.HALL, department=None)
    food = svc.issue(svc.authenticate(dept.api_key), food_permit()).licence
    wedding = svc.issue(Client(civil.id, civil.name, Role.DEPARTMENT, TH_CIVIL), marriage()).licence
    try:
        with serving(create_app(svc), sock):
            yield Site(url, svc, food, wedding, hall.api_key, dept.api_key)
    finally:
        svc.registry.dispose()


@pytest.fixture
def phone(chromium: Any) -> Iterator[Any]:
    pg = new_page(chromium)
    yield pg
    pg.context.close()


def _checknew_page(page: Any, name: str) -> None:
    axe(page)
    shoot(page, name, prefix="holder")
    assert page.problems == [], page.problems


def _sign_in_holder(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/me")
    assert page.inner_text("h1").startswith("我的证照")
    _checknew_page(page, "portal-sign-in")
    page.click("text=统一身份认证登录")
    page.wait_for_selector("text=演示统一身份认证平台")
    _checknew_page(page, "demo-idp")
    page.click("button:has-text('广州市天河区某某餐饮管理有限公司')")
    page.wait_for_selector(".cards .card")


def test_a_holder_signs_in_sees_its_licence_and_shows_a_live_code_a_hall_accepts(
    site: Site, phone: Any, tmp_path: Path
) -> None:
    _sign_in_holder(phone, site)
    text = phone.inner_text("main")
    assert site.food.licence_number in text and site.wedding.licence_number not in text
    _checknew_page(phone, "portal-licences")

    phone.click(f"a[href='/me/licences/{site.food.identifier}']")
    phone.wait_for_selector("#live-img")
    # the element is in the page before its image has loaded: wait for the image (a loaded
    # machine takes its time), failing with the timeout if it never loads
    phone.wait_for_function(
        "() => { const i = document.getElementById('live-img'); "
        "return i.complete && i.naturalWidth > 0; }",
        timeout=60_000,
    )
    _checknew_page(phone, "portal-licence")
    # the code as the screen shows it, scanned by an independent decoder, accepted once
    shot = tmp_path / "live.png"
    phone.locator("#live-img").screenshot(path=str(shot))
    out = subprocess.run(
        [tool("zbarimg"), "--quiet", "--raw", "-Sbinary", str(shot)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    scanned = out.stdout.decode("ascii").strip()
    assert scanned.startswith("EP1:")
    report = site.service.holder.verify_presentation(scanned, client=None)
    assert report.accepted
    assert report.seal.licence is not None
    assert report.seal.licence.identifier == site.food.identifier

    # authorise the hall, then withdraw it
    phone.fill("#purpose", "开办餐饮店")
    phone.click("button:has-text('授权')")
    phone.wait_for_selector("text=已授权")
    assert "天河区政务服务中心" in phone.inner_text("main")
    _checknew_page(phone, "portal-licence-granted")
    phone.click("button:has-text('撤回授权')")
    phone.wait_for_selector("text=已撤回授权")

    phone.click("a[href='/me/usage']")
    phone.wait_for_selector("h1:has-text('用证记录')")
    _checknew_page(phone, "portal-usage")
    phone.click("a[href='/me/tokens']")
    phone.fill("#token-name", "财务系统")
    phone.click("button:has-text('新建令牌')")
    phone.wait_for_selector("#new-key")
    assert phone.inner_text("#new-key").startswith("elk_")
    _checknew_page(phone, "portal-tokens")


def test_the_live_code_changes_every_minute(site: Site, chromium: Any) -> None:
    page = new_page(chromium)
    try:
        page.clock.install()
        _sign_in_holder(page, site)
        page.goto(f"{site.url}/me/licences/{site.food.identifier}")
        first = page.get_attribute("#live-img", "src")
        site.service.clock.advance(seconds=60)  # type: ignore[attr-defined]
        page.clock.run_for(61_000)
        deadline = time.monotonic() + 15
        while page.get_attribute("#live-img", "src") == first:
            assert time.monotonic() < deadline, "the live code was not renewed"
            page.clock.run_for(1_000)
            time.sleep(0.1)
        assert page.problems == []
    finally:
        page.context.close()


def _sign_in_key(page: Any, site: Site, path: str, key: str) -> None:
    page.goto(f"{site.url}{path}")
    page.wait_for_selector("#api_key")
    page.fill("#api_key", key)
    page.click("button:has-text('登录')")
    page.wait_for_load_state()


def test_the_hall_desk_checks_an_uploaded_pdf_item_by_item(
    site: Site, phone: Any, tmp_path: Path
) -> None:
    _sign_in_key(phone, site, "/desk", site.hall_key)
    assert phone.is_visible("#camera-missing")  # Chromium on Linux has no BarcodeDetector
    assert not phone.is_visible("#camera")
    _checknew_page(phone, "desk")
    owner = site.service.holder.principal(HolderRef.parse(f"001:{ORG_X}"), "x")
    pdf = tmp_path / "licence.pdf"
    made: list[bytes] = []
    # pyHanko signs with asyncio.run: not in this thread, where Playwright's loop runs
    worker = threading.Thread(
        target=lambda: made.append(site.service.holder.pdf(owner, site.food.identifier))
    )
    worker.start()
    worker.join(timeout=60)
    pdf.write_bytes(made[0])
    phone.set_input_files("#pdf", str(pdf))
    phone.click("#desk-form button[type=submit]")
    phone.wait_for_selector("#result")
    assert phone.inner_text("#verdict-zh") == "有效"
    items = phone.locator("ol.checks li")
    assert items.count() >= 10
    assert "PDF 签名" in phone.inner_text("#result")
    assert "已部分隐藏" in phone.inner_text("#result")  # no grant: masked
    _checknew_page(phone, "desk-result")


def test_the_desk_scans_a_live_code_with_the_camera(site: Site, chromium: Any) -> None:
    owner = site.service.holder.principal(HolderRef.parse(f"001:{ORG_X}"), "x")
    text = site.service.holder.present(owner, site.food.identifier).text
    page = new_page(chromium, permissions=["camera"])
    try:
        # Chromium on Linux has no BarcodeDetector: a stand-in that "sees" the holder's code
        page.add_init_script(
            "window.BarcodeDetector = class { constructor(o) { this.o = o; }"
            f" detect(v) {{ return Promise.resolve([{{rawValue: {json.dumps(text)}}}]); }} }};"
        )
        _sign_in_key(page, site, "/desk", site.hall_key)
        assert page.is_visible("#camera") and not page.is_visible("#camera-missing")
        page.click("#camera-start")
        page.wait_for_selector("#result", timeout=20_000)
        assert page.inner_text("#verdict-zh") == "有效"
        assert "亮证码首次使用" in page.inner_text("#result")
        assert page.problems == []
    finally:
        page.context.close()


def test_the_console_previews_a_draft_confirms_it_and_imports_a_file(
    site: Site, phone: Any, tmp_path: Path
) -> None:
    _sign_in_key(phone, site, "/console", site.dept_key)
    assert "广州市市场监督管理局" in phone.inner_text("h1")
    _checknew_page(phone, "console")
    body = food_permit("BROWSER-1")
    phone.goto(f"{site.url}/console/issue?type={body['type_code']}")
    holder: dict[str, str] = body["holder"]  # type: ignore[assignment]
    phone.fill("#source_ref", "BROWSER-1")
    phone.fill("#licence_number", str(body["licence_number"]))
    phone.fill("#holder_name", holder["name"])
    phone.fill("#holder_id", holder["id_number"])
    for name, value in body["data"].items():  # type: ignore[attr-defined]
        phone.fill(f"#data-{name}", value)
    _checknew_page(phone, "console-issue")
    before = site.service.registry.count_licences()
    phone.click("button:has-text('预览草稿')")
    phone.wait_for_selector(".draft")
    assert "草稿" in phone.inner_text(".draft-mark")
    assert site.service.registry.count_licences() == before  # nothing stored
    _checknew_page(phone, "console-preview")
    phone.click("#confirm")
    phone.wait_for_selector("#identifier")
    assert site.service.registry.count_licences() == before + 1

    lines = [json.dumps(food_permit(f"IMPORT-{i}"), ensure_ascii=False) for i in range(450)]
    lines.insert(7, '{"source_ref": "BAD-1"}')
    jsonl = tmp_path / "licences.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    phone.goto(f"{site.url}/console/import")
    phone.set_input_files("#file", str(jsonl))
    phone.click("#start")
    phone.wait_for_selector("#import-status:has-text('完成')", timeout=120_000)
    assert phone.inner_text("#n-created") == "450"
    assert phone.inner_text("#n-failed") == "1"
    assert phone.evaluate("document.getElementById('progress').value") == 451
    assert "第 8 行" in phone.inner_text("#import-errors")
    assert site.service.registry.count_licences() == before + 451
    _checknew_page(phone, "console-import")
