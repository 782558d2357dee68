"""三率一数 and the composite score: the worked example of docs/metrics.md recomputed, periods,
groups, and the figures over real cases through the API (JSON and CSV) and the facade."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from elicence.errors import InputError
from elicence.hall.items import ScoringWeights
from elicence.hall.metrics import (
    CaseFact,
    ComplaintFact,
    Facts,
    ItemFact,
    RatingFact,
    compute,
    parse_period,
    rounded,
)
from tests.conftest import Clock
from tests.hall.conftest import TH_AMR, World

DOC = Path(__file__).parents[2] / "docs" / "metrics.md"


def _block(marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- worked-example: {marker} -->\s*```\w+\n(.*?)```", text, re.S)
    assert m is not None, f"docs/metrics.md lost its {marker} block"
    return m.group(1)


def example_facts() -> tuple[Facts, ScoringWeights]:
    data = yaml.safe_load(_block("facts"))
    items = [ItemFact(f"I{i}", TH_AMR, "440106", *row) for i, row in enumerate(data["items"])]
    cases = [CaseFact(f"C{i}", TH_AMR, "440106", *row) for i, row in enumerate(data["cases"])]
    ratings = [RatingFact(TH_AMR, "440106", s) for s in data["ratings"]]
    complaints = [ComplaintFact(TH_AMR, "440106", s) for s in data["complaints"]]
    w = data["weights"]
    weights = ScoringWeights(
        dt.date(2026, 1, 1), w["capability"], w["efficiency"], w["satisfaction"]
    )
    return Facts(items, cases, ratings, complaints), weights


def test_the_worked_example_of_the_docs_recomputes() -> None:
    facts, weights = example_facts()
    m = compute(facts, group=TH_AMR, name="天河区市场监督管理局", weights=weights)
    expected = json.loads(_block("expected"))
    got = {
        k: rounded(
            getattr(m, k),
            2
            if k
            in (
                "capability",
                "efficiency",
                "satisfaction",
                "composite",
                "mean_stars",
                "visits_per_case",
            )
            else 4,
        )
        for k in expected
    }
    assert got == expected
    assert (m.items, m.items_deep, m.completed, m.completed_online, m.ratings, m.satisfied) == (
        4,
        3,
        8,
        6,
        5,
        4,
    )
    assert m.substantiated_complaints == 1
    without = compute(
        Facts(facts.items, facts.cases, (), facts.complaints), group="x", name="x", weights=weights
    )
    assert without.satisfaction is None and rounded(without.composite, 2) == 63.89
    assert "**63.89**" in DOC.read_text(encoding="utf-8")


def test_nothing_to_count_is_null_not_zero() -> None:
    m = compute(Facts(), group="x", name="x")
    assert m.depth_rate is None and m.online_completion_rate is None and m.satisfaction_rate is None
    assert m.visits_per_case is None and m.composite is None and m.capability is None


def test_complaints_without_completed_cases_cost_all_satisfaction() -> None:
    facts = Facts(
        ratings=[RatingFact("d", "440106", 5)], complaints=[ComplaintFact("d", "440106", True)]
    )
    assert compute(facts, group="d", name="d").satisfaction == 0.0
    facts = Facts(
        ratings=[RatingFact("d", "440106", 5)], complaints=[ComplaintFact("d", "440106", False)]
    )
    assert compute(facts, group="d", name="d").satisfaction == 100.0


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026-11", dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        ("2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        ("2026-Q4", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
        ("2026", dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        ("2026-11-15..2026-12-14", dt.date(2026, 11, 15), dt.date(2026, 12, 14)),
    ],
)
def test_periods(text: str, first: dt.date, last: dt.date) -> None:
    p = parse_period(text)
    assert (p.first, p.last) == (first, last)
    assert p.start.utcoffset() == dt.timedelta(hours=8)
    assert p.end - p.start == dt.timedelta(days=(last - first).days + 1)


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-Q5",
        "26",
        "2026-12-01..2026-11-01",
        "2020-01-01..2026-01-01",
        "last month",
        "2026-02-30..2026-03-01",
    ],
)
def test_bad_periods(text: str) -> None:
    with pytest.raises(InputError) as e:
        parse_period(text)
    assert e.value.field == "period"


# -- over real cases ----------------------------------------------------------------------------


def _complete(w: World, *, visits: int = 0, window: bool = False) -> str:
    if window:
        body = w.restaurant(
            applicant={
                "name": "广州市天河区某某餐饮管理有限公司",
                "id_type": "001",
                "id_number": "91350100M000100Y43",
            }
        )
        from tests.hall.conftest import PDF

        r = w.submit("hall", body, {"premises_layout": ("l.pdf", PDF, "application/pdf")})
        assert r.status_code == 201, r.text
        number = str(r.json()["number"])
    else:
        number = w.open_restaurant_case()
    for _ in range(visits):
        assert w.api.post(f"/api/v1/cases/{number}/visits", headers=w.h("hall")).status_code == 200
    w.drive(number, "accept", "start-review", "approve", "complete")
    return number


def _rate(w: World, number: str, stars: int) -> None:
    body = {
        "stars": stars,
        "dimensions": {"guidance": stars, "application": stars, "visits": stars, "result": stars},
    }
    assert (
        w.api.post(f"/api/v1/cases/{number}/rating", json=body, headers=w.h("org")).status_code
        == 201
    )


def test_metrics_over_real_cases(any_world: World, clock: Clock) -> None:
    w = any_world
    a = _complete(w)
    b = _complete(w, visits=2)
    _complete(w, window=True, visits=1)
    _rate(w, a, 5)
    _rate(w, b, 2)
    running = w.open_restaurant_case()
    w.drive(running, "accept")  # not completed: not counted
    r = w.api.post(f"/api/v1/cases/{a}/complaints", json={"text": "慢"}, headers=w.h("org"))
    w.api.post(
        f"/api/v1/complaints/{r.json()['id']}/answer",
        json={"answer": "属实", "substantiated": True},
        headers=w.h("th_amr"),
    )
    got = w.api.get("/api/v1/metrics", params={"period": "2026-11", "group": TH_AMR})
    assert got.status_code == 200, got.text
    [row] = got.json()["rows"]
    assert row["name"] == "广州市天河区市场监督管理局" and row["period"] == "2026-11"
    assert (row["items"], row["items_deep"], row["depth_rate"]) == (2, 2, 1.0)
    assert (row["completed"], row["completed_online"], row["online_completion_rate"]) == (
        3,
        2,
        0.6667,
    )
    assert (row["online_visits"], row["visits_per_case"]) == (
        2,
        1.0,
    )  # the window case's visit is not counted
    assert (row["ratings"], row["satisfied"], row["satisfaction_rate"]) == (2, 1, 0.5)
    assert row["on_time_rate"] == 1.0 and row["substantiated_complaints"] == 1
    # capability of the two demo items: (1 + 1 + 1/2)/3 and (1 + 1 + 3/4)/3
    assert row["capability"] == round(100 * ((2.5 / 3) + (2.75 / 3)) / 2, 2)
    assert row["efficiency"] == round(100 * (2 / 3 + 1) / 2, 2)
    assert row["satisfaction"] == round(100 * (3.5 - 1) / 4 * (1 - 1 / 3), 2)
    expected = (
        0.4 * 100 * ((2.5 / 3) + (2.75 / 3)) / 2
        + 0.3 * 100 * (2 / 3 + 1) / 2
        + 0.3 * 100 * 2.5 / 4 * (2 / 3)
    )
    assert row["composite"] == round(expected, 2)
    assert (row["weight_capability"], row["weight_satisfaction"]) == (0.4, 0.3)


def test_groups_and_periods(world: World, clock: Clock) -> None:
    w = world
    _complete(w)
    cities = w.api.get("/api/v1/metrics", params={"period": "2026-11", "group_by": "city"}).json()[
        "rows"
    ]
    by_city = {r["group"]: r for r in cities}
    assert by_city["440100"]["name"] == "广州市" and by_city["440100"]["completed"] == 1
    assert by_city["440100"]["items"] == 10  # Guangzhou's own items and Tianhe's, rolled up
    divisions = {
        r["group"]
        for r in w.api.get(
            "/api/v1/metrics", params={"period": "2026-11", "group_by": "division"}
        ).json()["rows"]
    }
    assert {"440106", "440100", "440000", "440300"} <= divisions
    [total] = w.api.get("/api/v1/metrics", params={"period": "2026", "group_by": "all"}).json()[
        "rows"
    ]
    assert total["name"] == "全部" and total["items"] == 13 and total["completed"] == 1
    # December: nothing completed yet; October: before the item catalogue was imported
    [dec] = w.api.get("/api/v1/metrics", params={"period": "2026-12", "group_by": "all"}).json()[
        "rows"
    ]
    assert dec["completed"] == 0 and dec["online_completion_rate"] is None
    assert (
        w.api.get("/api/v1/metrics", params={"period": "2026-10", "group_by": "all"}).json()["rows"]
        == []
    )
    clock.now = dt.datetime(2027, 1, 20, 2, tzinfo=dt.UTC)
    later = w.api.get("/api/v1/metrics", params={"period": "2027-01", "group": TH_AMR}).json()[
        "rows"
    ][0]
    assert later["weight_satisfaction"] == 0.4  # the 2027 weights of the demo file


def test_metrics_as_csv(world: World) -> None:
    w = world
    _complete(w)
    r = w.api.get("/api/v1/metrics.csv", params={"period": "2026-11", "group_by": "department"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    json_rows = w.api.get("/api/v1/metrics", params={"period": "2026-11"}).json()["rows"]
    assert [x["group"] for x in rows] == [x["group"] for x in json_rows]
    mine = next(x for x in rows if x["group"] == TH_AMR)
    assert mine["name"] == "广州市天河区市场监督管理局" and mine["completed"] == "1"
    other = next(x for x in rows if x["group"] == "11440300MB2F00008P")
    assert other["online_completion_rate"] == ""  # null


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-11", "group_by": "street"}, "group_by"),
        ({"period": ""}, "period"),
    ],
    ids=["bad-period", "bad-group", "empty-period"],
)
def test_bad_metrics_queries_are_422(world: World, params: dict[str, Any], field: str) -> None:
    r = world.api.get("/api/v1/metrics", params=params)
    assert r.status_code == 422 and r.json()["error"]["field"] == field


@pytest.mark.parametrize("path", ["/api/v1/metrics", "/api/v1/metrics.csv"])
def test_metrics_without_a_period_are_this_month_in_china_time(
    world: World, clock: Clock, path: str
) -> None:
    """As the dashboard: no period is the current month, China time (16:30 UTC on the last day
    of November is already December 1st in Beijing)."""
    _complete(world)
    clock.now = dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC)
    month = world.svc.hall.today().strftime("%Y-%m")
    assert month == "2026-12"
    plain = world.api.get(path, params={"group_by": "all"})
    asked = world.api.get(path, params={"group_by": "all", "period": month})
    assert plain.status_code == 200, plain.text
    assert plain.content == asked.content
    if path.endswith(".csv"):
        assert 'filename="metrics-2026-12.csv"' in plain.headers["content-disposition"]
    else:
        assert plain.json()["period"]["label"] == "2026-12"
