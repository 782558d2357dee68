"""The 三率一数 dashboard over HTTP: public, no login, the strict CSP; the numbers in its tables
and in its charts' text alternatives are those of ``Hall.metrics`` for seeded cases (completed,
rated, across two departments, in two months), on SQLite and PostgreSQL; a bad query is an error
page naming the field (4xx), never a 500; each page is charged to the public limit."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.hall.items_file import DEMO_ITEMS, load_items
from elicence.hall.metrics import Metrics
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from tests.conftest import PASSPHRASE, Clock, only_limits
from tests.hall.conftest import TH_AMR, TH_FIRE, World
from tests.hall.test_metrics import _complete, _rate

SVG = "{http://www.w3.org/2000/svg}"
DECEMBER = dt.datetime(2026, 12, 3, 2, tzinfo=dt.UTC)  # 10:00 Beijing time


def _fire_case(w: World, *, visits: int = 0) -> str:
    r = w.submit_fire_case()
    assert r.status_code == 201, r.text
    number = str(r.json()["number"])
    for _ in range(visits):
        assert w.api.post(f"/api/v1/cases/{number}/visits", headers=w.h("hall")).status_code == 200
    w.drive(number, "accept", "start-review", "approve", "complete", who="th_fire")
    return number


def seed(w: World, clock: Clock) -> None:
    """Cases of two departments completed and rated in November 2026, and more in December
    (where the clock is left): the dashboard's default month is then December."""
    # November: 天河区市场监督管理局 completes 2 online cases (0 and 2 visits) and a window
    # case, rated 5 and 2 stars; 天河区消防救援大队 completes 1 online case, rated 4
    a = _complete(w)
    b = _complete(w, visits=2)
    _complete(w, window=True, visits=1)
    _rate(w, a, 5)
    _rate(w, b, 2)
    f = _fire_case(w)
    _rate(w, f, 4)
    w.drive(w.open_restaurant_case(), "accept")  # running: not counted
    # December: the market regulator completes 1 online case (not rated), the fire brigade 2
    # (1 visit), one rated 5
    clock.now = DECEMBER
    _complete(w)
    g = _fire_case(w, visits=1)
    _fire_case(w)
    _rate(w, g, 5)


class Tables(HTMLParser):
    """The rows of the page's ``table.figures`` tables: the cells' texts, whitespace folded."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._in = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "figures") in attrs:
            self._in = True
            self.tables.append([])
        elif self._in and tag == "tr":
            self._row = []
        elif self._in and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables_of(html: str) -> list[list[list[str]]]:
    p = Tables()
    p.feed(html)
    return p.tables


def charts_of(html: str) -> dict[str, ET.Element]:
    """Every inline SVG of the page, parsed as XML (it must be), by its title's id."""
    out = {}
    for text in re.findall(r"<svg\b.*?</svg>", html, re.S):
        svg = ET.fromstring(text)
        title = svg.find(f"{SVG}title")
        assert title is not None
        out[title.attrib["id"].removesuffix("-title")] = svg
    return out


def pct(v: float | None) -> str:
    return "—" if v is None else f"{round(v, 4) * 100:.2f}%"


def two(v: float | None) -> str:
    return "—" if v is None else f"{round(v, 2):.2f}"


def expected_cells(m: Metrics) -> list[str]:
    """A row as the page must show it, written from the metrics independently of the page's
    code: the value, then the counts behind it."""
    return [
        f"{pct(m.depth_rate)} {m.items_deep}/{m.items}",
        f"{pct(m.online_completion_rate)} {m.completed_online}/{m.completed}",
        f"{pct(m.satisfaction_rate)} {m.satisfied}/{m.ratings}",
        f"{two(m.visits_per_case)} {m.online_visits}/{m.completed_online}",
        two(m.composite),
    ]


def _row(table: list[list[str]], name: str) -> list[str]:
    found = [r for r in table if r[0].split(" （")[0] == name]
    assert len(found) == 1, (name, table)
    return found[0]


@pytest.fixture
def seeded(any_world: World, clock: Clock) -> World:
    seed(any_world, clock)
    return any_world


def test_the_dashboard_shows_the_metrics_of_the_hall(seeded: World) -> None:
    w = seeded
    page = w.api.get("/dashboard", params={"period": "2026-11", "group_by": "department"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert "set-cookie" not in page.headers  # public: no session needed, none made
    report = w.svc.hall.metrics(period="2026-11", group_by="department")
    assert {m.group for m in report.rows} >= {TH_AMR, TH_FIRE}
    [table, trend] = tables_of(page.text)
    assert len(table) == 1 + len(report.rows)  # the header and a row per group
    for m in report.rows:
        assert _row(table, m.name)[1:] == expected_cells(m), m.name
    # the figures by hand (docs/metrics.md's formulas), so the check above is not circular
    amr = _row(table, "广州市天河区市场监督管理局")
    assert amr[2] == "66.67% 2/3" and amr[3] == "50.00% 1/2" and amr[4] == "1.00 2/2"
    fire = _row(table, "广州市天河区消防救援大队")
    assert fire[2] == "100.00% 1/1" and fire[3] == "100.00% 1/1" and fire[4] == "0.00 0/1"
    # a department with items but no ratings: the satisfaction rate is undefined, not 0 %
    quiet = next(m for m in report.rows if m.ratings == 0)
    assert _row(table, quiet.name)[3] == "— 0/0"

    charts = charts_of(page.text)
    assert set(charts) == {
        "chart-depth",
        "chart-online",
        "chart-satisfaction",
        "chart-visits",
        "chart-composite",
        "chart-trend",
    }
    for ident, svg in charts.items():
        assert svg.attrib["role"] == "img"
        assert svg.attrib["aria-labelledby"] == f"{ident}-title"
        assert svg.attrib["aria-describedby"] == f"{ident}-desc"
    desc = charts["chart-satisfaction"].find(f"{SVG}desc")
    assert desc is not None and desc.text is not None
    assert "广州市天河区市场监督管理局：50.00%（1/2）" in desc.text
    assert f"{quiet.name}：—" in desc.text
    composite = charts["chart-composite"].find(f"{SVG}desc")
    assert composite is not None and composite.text is not None
    for m in report.rows:
        assert f"{m.name}：{two(m.composite)}" in composite.text
    # the trend of all: the 12 months to November, November's composite as Hall.metrics has it
    [total] = w.svc.hall.metrics(period="2026-11", group_by="all").rows
    assert len(trend) == 13 and trend[-1][0] == "2026年11月"
    assert trend[-1][1:] == expected_cells(total)
    assert trend[-2][1:] == ["—"] * 5  # October: before the item catalogue
    assert 'href="/api/v1/metrics.csv?period=2026-11&amp;group_by=department"' in page.text
    assert 'href="/dashboard/about"' in page.text


def test_the_default_is_this_month_in_beijing_time(seeded: World, clock: Clock) -> None:
    w = seeded
    clock.now = dt.datetime(2026, 11, 30, 17, tzinfo=dt.UTC)  # 01:00 on 1 December in Beijing
    page = w.api.get("/dashboard")
    assert page.status_code == 200
    assert '<option value="2026-12" selected>' in page.text
    assert '<option value="department" selected>' in page.text
    table = tables_of(page.text)[0]
    [dec] = [m for m in w.svc.hall.metrics(period="2026-12").rows if m.group == TH_FIRE]
    assert _row(table, dec.name)[1:] == expected_cells(dec)
    assert dec.completed == 2 and dec.online_visits == 1


def test_groupings_and_a_groups_trend(seeded: World) -> None:
    w = seeded
    page = w.api.get(
        "/dashboard", params={"period": "2026-12", "group_by": "department", "group": TH_FIRE}
    )
    assert page.status_code == 200, page.text
    table, trend = tables_of(page.text)
    assert "（走势 trend）" in _row(table, "广州市天河区消防救援大队")[0]
    assert "走势：广州市天河区消防救援大队" in page.text
    nov, dec = trend[-2], trend[-1]
    for row, period in ((nov, "2026-11"), (dec, "2026-12")):
        [m] = w.svc.hall.metrics(period=period, group=TH_FIRE).rows
        assert row[1:] == expected_cells(m)
    assert dec[2] == "100.00% 2/2"
    # the link that chose the group, escaped in the attribute
    assert f"/dashboard?period=2026-12&amp;group_by=department&amp;group={TH_FIRE}#trend" in (
        page.text
    )
    cities = w.api.get("/dashboard", params={"period": "2026-Q4", "group_by": "city"})
    assert cities.status_code == 200
    [gz] = [
        m for m in w.svc.hall.metrics(period="2026-Q4", group_by="city").rows if m.group == "440100"
    ]
    assert _row(tables_of(cities.text)[0], "广州市")[1:] == expected_cells(gz)
    assert gz.completed == 7
    assert len(tables_of(cities.text)[1]) == 1 + 8  # eight quarters
    everything = w.api.get("/dashboard", params={"period": "2026", "group_by": "all"})
    [all_row] = w.svc.hall.metrics(period="2026", group_by="all").rows
    assert _row(tables_of(everything.text)[0], "全部")[1:] == expected_cells(all_row)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"period": "2026-13"}, 422, "period"),
        ({"period": "2026-Q5"}, 422, "period"),
        ({"period": "November"}, 422, "period"),
        ({"period": "2026-12-01..2026-11-01"}, 422, "period"),
        ({"period": "x" * 65}, 422, "period"),
        ({"period": "2026-11", "group_by": "street"}, 422, "group_by"),
        ({"period": "2026-11", "group": "<script>"}, 422, "group"),
        ({"period": "2026-11", "group": "9" * 33}, 422, "group"),
    ],
    ids=[
        "month-13",
        "quarter-5",
        "words",
        "range-backwards",
        "too-long",
        "unknown-grouping",
        "group-with-markup",
        "group-too-long",
    ],
)
def test_a_bad_query_is_an_error_page_naming_the_field(
    world: World, params: dict[str, Any], status: int, field: str
) -> None:
    r = world.api.get("/dashboard", params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert f"<code>{field}</code>" in r.text
    assert "<script>" not in r.text


def test_a_period_with_nothing_to_count_shows_an_empty_dashboard(world: World) -> None:
    r = world.api.get("/dashboard", params={"period": "2020-02"})
    assert r.status_code == 200, r.text
    assert "本期没有可统计的事项、办件或评价" in r.text
    charts = charts_of(r.text)
    assert len(charts) == 6  # empty charts still parse and say so
    desc = charts["chart-depth"].find(f"{SVG}desc")
    assert desc is not None and desc.text is not None and "无数据" in desc.text
    # a range of days: its own trend of equal ranges, offered as "other" in the choice
    days = world.api.get("/dashboard", params={"period": "2026-11-01..2026-11-15"})
    assert days.status_code == 200
    assert '<option value="2026-11-01..2026-11-15" selected>' in days.text
    [trend] = tables_of(days.text)  # no group table: nothing in those days
    assert [r[0] for r in trend[1:]] == [
        "2026-08-18..2026-09-01",
        "2026-09-02..2026-09-16",
        "2026-09-17..2026-10-01",
        "2026-10-02..2026-10-16",
        "2026-10-17..2026-10-31",
        "2026-11-01..2026-11-15",
    ]


def test_the_explanation_page_gives_every_formula(world: World) -> None:
    r = world.api.get("/dashboard/about")
    assert r.status_code == 200
    for words in ("网上深化率", "网上办结率", "服务满意率", "网上申请到现场办理次数", "综合计分"):
        assert words in r.text
    assert "四星及五星评价数 ÷ 评价数" in r.text and "docs/metrics.md" in r.text
    home = world.api.get("/dashboard")
    assert '<a href="/dashboard">三率一数' in home.text  # in the site's navigation


def test_every_dashboard_page_is_charged_to_the_public_limit(
    tmp_path: Any, keys_dir: Any, clock: Clock, demo_catalogue: Any
) -> None:
    """A month's page costs 13 public reads (the month and the 12 of its trend), the
    explanation page 1; the clock stands still, so nothing refills."""

    registry = Registry.from_url(f"sqlite:///{tmp_path / 'limited.db'}")
    registry.upgrade()
    registry.save_catalogue(demo_catalogue, now=clock())
    svc: Elicence = assemble(
        registry=registry,
        keystore=KeyStore(keys_dir, scrypt_log2_n=10),
        passphrase=PASSPHRASE,
        public_base_url="https://hall.example.gov.cn",
        clock=clock,
        limits=only_limits(public_ip="60/min burst 30"),
    )
    svc.hall.import_items(load_items(DEMO_ITEMS))
    try:
        with TestClient(create_app(svc), raise_server_exceptions=False) as api:
            answers = [api.get("/dashboard").status_code for _ in range(2)]
            refused = api.get("/dashboard")
            assert answers == [200, 200]  # 26 of 30
            assert refused.status_code == 429
            assert refused.headers["content-type"].startswith("text/html")
            assert int(refused.headers["retry-after"]) > 0
            assert "请求过于频繁" in refused.text
            assert [api.get("/dashboard/about").status_code for _ in range(5)] == [
                200,
                200,
                200,
                200,
                429,
            ]
            assert api.get("/api/v1/metrics", params={"period": "2026-11"}).status_code == 429
    finally:
        registry.dispose()
