"""The public verification page ``/v`` in a real browser: headless Chromium driven by Playwright,
against a real uvicorn server whose public base URL is the server itself.

Skipped when Chromium or Playwright is missing, except with ``CI`` set, where that fails.
A phone-width screenshot of each verdict is kept under ``artifacts/`` at the repository root.
"""

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
from elicence.domain.licence import Licence, mask_id, mask_name
from elicence.issuer.lifecycle import Action
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from tests.browser import ARTIFACTS, PHONE, free_socket, new_page, serving
from tests.conftest import GZ_AMR, PASSPHRASE, TH_CIVIL, Clock, food_permit, marriage

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass
class Live:
    """A running server and the service behind it."""

    url: str
    service: Elicence

    def client(self, department: str) -> Client:
        record = self.service.clients.add(
            name=f"dept {department}", role=Role.DEPARTMENT, department=department
        ).client
        return Client(record.id, record.name, Role.DEPARTMENT, department)

    def issue(self, department: str, body: dict[str, object]) -> Licence:
        return self.service.licences.issue(self.client(department), body).licence


def _service(db: Path, keys: Path, clock: Clock, catalogue: Any, base_url: str) -> Elicence:
    registry = Registry.from_url(f"sqlite:///{db}")
    registry.upgrade()
    if registry.catalogue_version() is None:
        registry.save_catalogue(catalogue, now=clock())
    return assemble(
        registry=registry,
        keystore=KeyStore(keys, scrypt_log2_n=10),
        passphrase=PASSPHRASE,
        public_base_url=base_url,
        clock=clock,
    )


@pytest.fixture
def live(tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue: Any) -> Iterator[Live]:
    """uvicorn in a thread on a free port, serving a service whose base URL is that server."""
    sock, url = free_socket()
    service = _service(tmp_path / "registry.db", keys_dir, clock, demo_catalogue, url)
    try:
        with serving(create_app(service), sock):
            yield Live(url, service)
    finally:
        service.registry.dispose()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A phone-sized page that records console errors and uncaught exceptions."""
    pg = new_page(chromium, PHONE, is_mobile=True)
    yield pg
    pg.context.close()


def _open(page: Any, url: str) -> str:
    """Open ``url`` and wait until the page has shown a verdict; the verdict's Chinese word."""
    page.goto(url)
    page.wait_for_selector("#verdict:not(.pending)", timeout=15_000)
    verdict: str = page.inner_text("#verdict-zh")
    return verdict


def _wait_for(page: Any, verdict: str) -> None:
    """Wait until the page shows ``verdict`` (its CSP forbids the eval of wait_for_function)."""
    page.wait_for_selector(f"#verdict-zh:text-is('{verdict}')", timeout=15_000)


def _screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"verification-page-{name}-390x844.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _tamper(seal: str, at: int = 200) -> str:
    """The seal with one base32 character changed."""
    old = seal[at]
    new = BASE32[(BASE32.index(old) + 1) % 32]
    return seal[:at] + new + seal[at + 1 :]


def _fits_phone(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone: {width}px"


def test_a_genuine_licence_shows_valid_with_its_details_and_the_holder_masked(
    live: Live, page: Any
) -> None:
    lic = live.issue(GZ_AMR, food_permit())
    url = live.service.licences.verification_url(lic.seal)
    assert url.startswith(f"{live.url}/v#EL1:")
    assert _open(page, url) == "有效"
    assert page.inner_text("#verdict-en") == "Valid"
    assert page.inner_text("#mark") == "✔"
    assert "good" in (page.get_attribute("#verdict", "class") or "")
    assert page.is_visible("#licence")
    text = page.inner_text("main")
    for shown in (
        "食品经营许可证",
        "JY14401060000123",
        "广州市市场监督管理局",
        "2026-11-28",
        "2031-11-27",
        mask_name(lic.holder.name),
        mask_id(lic.holder.id_number),
        "查验时间",
        "2026-11-28 10:00:00",  # NOW in Beijing time
    ):
        assert shown in text, (shown, text)
    assert lic.holder.name not in text
    assert lic.holder.id_number not in text
    _fits_phone(page)
    assert page.problems == []
    shot = _screenshot(page, "valid")
    assert shot.stat().st_size > 10_000


def test_a_licence_not_yet_in_force_shows_genuine_from_its_first_day_never_forged(
    live: Live, page: Any
) -> None:
    """Issue 16: not the forged wording, but "genuine, in force from …"."""
    lic = live.issue(GZ_AMR, food_permit(valid_from="2027-01-01"))
    assert _open(page, live.service.licences.verification_url(lic.seal)) == "尚未生效"
    assert page.inner_text("#verdict-en") == "Not yet in force"
    assert "warn" in (page.get_attribute("#verdict", "class") or "")
    explain = page.inner_text("#explain")
    assert "真实的电子证照，自 2027-01-01 起生效" in explain, explain
    assert "genuine e-licence, in force from 2027-01-01" in explain, explain
    text = page.inner_text("main")
    assert "不是真实的电子证照" not in text and "not a genuine" not in text
    assert page.is_visible("#licence") and "2027-01-01" in page.inner_text("#licence")
    _fits_phone(page)
    assert page.problems == []
    _screenshot(page, "not-yet-valid")


def test_a_natural_persons_licence_shows_the_holder_masked(live: Live, page: Any) -> None:
    lic = live.issue(TH_CIVIL, marriage())
    assert _open(page, live.service.licences.verification_url(lic.seal)) == "有效"
    text = page.inner_text("main")
    assert "结婚证" in text and "长期" in text  # long-term: no end date
    assert mask_name(lic.holder.name) in text and lic.holder.name not in text
    assert lic.holder.id_number not in text


def test_a_tampered_seal_is_refused_and_shows_no_details(live: Live, page: Any) -> None:
    lic = live.issue(GZ_AMR, food_permit())
    tampered = _tamper(lic.seal)
    assert tampered != lic.seal
    assert _open(page, live.service.licences.verification_url(tampered)) == "无效"
    assert page.inner_text("#verdict-en") == "Invalid"
    assert page.inner_text("#mark") == "✖"
    assert "good" not in (page.get_attribute("#verdict", "class") or "")
    assert not page.is_visible("#licence")
    assert "有效 " not in page.inner_text("main")
    assert page.problems == []
    _screenshot(page, "invalid")


def test_no_code_in_the_link_says_so(live: Live, page: Any) -> None:
    assert _open(page, f"{live.url}/v") == "没有证照码"
    assert page.inner_text("#verdict-en") == "No licence code"
    assert "扫描" in page.inner_text("#explain")
    assert not page.is_visible("#licence")
    _fits_phone(page)
    assert page.problems == []
    _screenshot(page, "no-code")


@pytest.mark.parametrize(
    "fragment",
    [
        pytest.param("hello", id="not-a-seal"),
        pytest.param("EL1:AAAA", id="seal-that-does-not-decode"),
        pytest.param("EL1:%3Cimg%20src=x%3E", id="markup"),
    ],
)
def test_a_malformed_code_is_invalid(fragment: str, live: Live, page: Any) -> None:
    assert _open(page, f"{live.url}/v#{fragment}") == "无效"
    assert not page.is_visible("#licence")
    assert page.query_selector("main img") is None


def test_a_well_signed_licence_the_registry_does_not_hold_is_not_found(
    live: Live, page: Any, tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue: Any
) -> None:
    # Same keys, another registry: a trusted signature over a licence this service never issued.
    other = _service(tmp_path / "other.db", keys_dir, clock, demo_catalogue, live.url)
    try:
        record = other.clients.add(name="x", role=Role.DEPARTMENT, department=GZ_AMR).client
        client = Client(record.id, record.name, Role.DEPARTMENT, GZ_AMR)
        lic = other.licences.issue(client, food_permit()).licence
    finally:
        other.registry.dispose()
    assert _open(page, live.service.licences.verification_url(lic.seal)) == "未找到"
    assert page.inner_text("#verdict-en") == "Not found"
    assert not page.is_visible("#licence")
    assert "JY14401060000123" not in page.inner_text("main")


def test_markup_in_licence_data_is_shown_as_text(live: Live, page: Any) -> None:
    number = '<img src=x id=pwned onerror="document.title=1">JY1'
    lic = live.issue(GZ_AMR, food_permit(licence_number=number))
    assert _open(page, live.service.licences.verification_url(lic.seal)) == "有效"
    assert number in page.inner_text("#fields")
    assert page.query_selector("#pwned") is None
    assert page.query_selector("main img") is None


def test_a_network_failure_shows_could_not_check_never_valid(live: Live, page: Any) -> None:
    lic = live.issue(GZ_AMR, food_permit())
    page.route("**/api/v1/verify", lambda route: route.abort())
    assert _open(page, live.service.licences.verification_url(lic.seal)) == "无法查验"
    assert page.inner_text("#verdict-en") == "Could not check"
    assert "good" not in (page.get_attribute("#verdict", "class") or "")
    assert not page.is_visible("#licence")
    assert page.is_visible("#retry")
    # the connection comes back: trying again checks for real
    page.unroute("**/api/v1/verify")
    page.click("#retry")
    _wait_for(page, "有效")


def test_a_server_error_is_not_valid(live: Live, page: Any) -> None:
    lic = live.issue(GZ_AMR, food_permit())
    page.route(
        "**/api/v1/verify",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body='{"verdict": "VALID!"}'
        ),
    )
    assert _open(page, live.service.licences.verification_url(lic.seal)) == "无法确定"
    page.unroute("**/api/v1/verify")
    page.route("**/api/v1/verify", lambda route: route.fulfill(status=500, body="oops"))
    page.evaluate("location.hash = '#' + location.hash.slice(1).toLowerCase()")
    _wait_for(page, "无法查验")


def test_changing_the_hash_checks_the_new_code(live: Live, page: Any) -> None:
    lic = live.issue(GZ_AMR, food_permit())
    assert _open(page, f"{live.url}/v") == "没有证照码"
    page.evaluate(f"location.hash = {lic.seal!r}")
    _wait_for(page, "有效")


@pytest.mark.parametrize(
    ("action", "zh", "en"),
    [
        (Action.REVOKE, "已注销", "Revoked"),
        (Action.SUSPEND, "已暂停", "Suspended"),
    ],
    ids=["revoked", "suspended"],
)
def test_a_revoked_or_suspended_licence_is_never_shown_as_genuine(
    live: Live, page: Any, action: Action, zh: str, en: str
) -> None:
    client = live.client(GZ_AMR)
    lic = live.service.licences.issue(client, food_permit()).licence
    live.service.licences.change_status(client, lic.identifier, action, reason="浏览器测试")
    assert _open(page, live.service.licences.verification_url(lic.seal)) == zh
    assert page.inner_text("#verdict-en") == en
    assert "good" not in (page.get_attribute("#verdict", "class") or "")  # never the genuine look
    assert page.inner_text("#verdict-zh") != "有效"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(
        path=str(ARTIFACTS / f"verification-page-{en.lower()}-390x844.png"), full_page=True
    )


def test_the_api_docs_render_from_this_service_alone_under_the_csp(
    live: Live, chromium: Any
) -> None:
    """/docs in a real browser: Swagger UI shows the operations, every request the page makes
    goes to this service, and the CSP refuses nothing a script needs (no page error)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    try:
        pg.goto(live.url + "/docs")
        pg.wait_for_selector(".opblock", timeout=20_000)
        assert pg.locator(".opblock").count() > 20
        assert pg.locator(".info .title").inner_text().startswith("elicence")
        pg.screenshot(path=str(_artifacts() / "docs.png"))
    finally:
        context.close()
    assert requests and all(u.startswith(live.url) for u in requests), requests
    scripts = [p for p in problems if "script" in p.lower() or "page error" in p]
    assert scripts == [], problems


def _artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
