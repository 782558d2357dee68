"""The 三率一数 dashboard in headless Chromium (the holder pages' harness: Playwright, the vendored
axe-core, screenshots into ``artifacts/``) with real seeded cases of two departments: no serious
or critical axe violation, no sideways scroll at phone width, no console error, the charts'
numbers as Hall.metrics has them; the plain GET forms work without a script; a bad period is an
error page naming it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.service import Elicence
from tests.browser import axe, fits, free_socket, new_page, serving, shoot
from tests.conftest import Clock
from tests.hall.conftest import TH_FIRE, build_world
from tests.hall.test_dashboard import pct, seed, two

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass
class Site:
    url: str
    service: Elicence


@pytest.fixture
def site(service: Elicence, clock: Clock) -> Iterator[Site]:
    with TestClient(create_app(service), raise_server_exceptions=False) as api:
        seed(build_world(service, api), clock)
    sock, url = free_socket()
    with serving(create_app(service), sock):
        yield Site(url, service)


@pytest.fixture
def phone(chromium: Any) -> Iterator[Any]:
    pg = new_page(chromium)
    yield pg
    pg.context.close()


def _shoot(page: Any, name: str) -> None:
    """axe, then screenshots at phone and desktop width, fitting each; no console problem."""
    axe(page)
    shoot(page, name, prefix="dashboard")
    assert page.problems == [], page.problems


def _desc(page: Any, ident: str) -> str:
    text: str = page.text_content(f"#{ident}-desc")
    return text


def test_the_dashboard_at_phone_and_desktop_width(site: Site, phone: Any) -> None:
    phone.goto(f"{site.url}/")
    phone.click("nav >> text=三率一数")
    phone.wait_for_selector("h1:has-text('三率一数')")
    # the default: December 2026 (the seeded clock), by department
    assert phone.input_value("#period") == "2026-12"
    assert phone.input_value("#group_by") == "department"
    rows = {m.name: m for m in site.service.hall.metrics(period="2026-12").rows}
    fire = next(m for m in rows.values() if m.group == TH_FIRE)
    assert f"{fire.name}：{pct(fire.satisfaction_rate)}（1/1）" in _desc(
        phone, "chart-satisfaction"
    )
    for m in rows.values():
        assert f"{m.name}：{two(m.composite)}" in _desc(phone, "chart-composite")
    # the accessible name of each chart is its title (role="img")
    svg = phone.locator("svg#chart-online, svg[aria-labelledby='chart-online-title']")
    assert svg.get_attribute("role") == "img"
    _shoot(phone, "month")

    # choose November, by city, with the plain GET form (no script on the page)
    phone.select_option("#period", "2026-11")
    phone.select_option("#group_by", "city")
    phone.click("button:has-text('查看')")
    phone.wait_for_url("**/dashboard?period=2026-11&group_by=city")
    [gz] = [
        m
        for m in site.service.hall.metrics(period="2026-11", group_by="city").rows
        if m.group == "440100"
    ]
    row = phone.locator("table.figures").first.locator(
        "tr", has=phone.locator("th", has_text=re.compile("^广州市$"))
    )
    assert row.locator("td").first.inner_text().split()[0] == pct(gz.depth_rate)
    assert gz.completed == 4
    # a group's name chooses it for the trend
    phone.click("table.figures >> nth=0 >> a:text-is('广州市')")
    phone.wait_for_selector("h2#trend:has-text('广州市')")
    assert "group=440100" in phone.url
    trend = phone.locator("table.figures >> nth=1 >> tbody tr")
    assert trend.count() == 12
    assert trend.nth(11).locator("td").nth(4).inner_text() == two(gz.composite)
    _shoot(phone, "city-trend")

    phone.click("text=指标怎么算")
    phone.wait_for_selector("h1:has-text('三率一数怎么算')")
    _shoot(phone, "about")


def test_a_bad_period_is_a_page_naming_it(site: Site, phone: Any) -> None:
    answer = phone.goto(f"{site.url}/dashboard?period=2026-13&group_by=department")
    assert answer.status == 422
    assert phone.inner_text("h1").startswith("输入有误")
    assert phone.inner_text("main code >> nth=0") == "period"
    axe(phone)
    fits(phone)
    # Chromium logs the document's own 4xx status; nothing else may go wrong
    assert phone.problems == [
        "console error: Failed to load resource: the server responded with a status of 422 "
        "(Unprocessable Entity)"
    ], phone.problems
