"""Searching the service items on /services (issue 18, 事前清楚): a substring of the name, code,
department or a keyword, or pinyin — initials (``spjy`` → 食品经营许可, ``kfd`` → the keyword
开饭店) or whole syllables — computed with pypinyin once per item catalogue loaded, never per
request."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import elicence.app.itemsearch as itemsearch
from elicence.api.app import create_app
from elicence.app.itemsearch import ItemSearch, pinyin_keys
from elicence.hall.items_file import DEMO_ITEMS, load_items
from tests.hall.conftest import BIRTH_REG, FIRE, MARRIAGE_REG, RENEWAL, RESTAURANT, World

FOOD_ITEMS = {RESTAURANT, RENEWAL, "440100-SCJ-0001", "440300-SCJ-0001"}


def test_pinyin_keys_are_initials_and_syllables_of_the_chinese() -> None:
    assert pinyin_keys("食品经营许可（开办餐馆）") == (
        "spjyxkkbcg",
        "shipinjingyingxukekaibancanguan",
    )
    assert pinyin_keys("开饭店") == ("kfd", "kaifandian")
    assert pinyin_keys("Wi-Fi 办理") == ("wifibl", "wifibanli")  # other text kept, letters only


@pytest.mark.parametrize(
    ("query", "found", "not_found"),
    [
        pytest.param("spjy", FOOD_ITEMS, {MARRIAGE_REG, FIRE}, id="initials"),
        pytest.param("SPJY", FOOD_ITEMS, {MARRIAGE_REG}, id="initials-any-case"),
        pytest.param("spjy xk", FOOD_ITEMS, {MARRIAGE_REG}, id="initials-with-a-space"),
        pytest.param("kfd", {RESTAURANT}, {RENEWAL, FIRE}, id="keyword-initials"),
        pytest.param("canguan", {RESTAURANT, FIRE}, {MARRIAGE_REG}, id="syllables"),
        pytest.param("准生证", {BIRTH_REG}, {MARRIAGE_REG}, id="keyword"),
        pytest.param("餐馆", {RESTAURANT, FIRE}, {MARRIAGE_REG}, id="substring"),
        pytest.param("440106-mz", {MARRIAGE_REG}, {RESTAURANT}, id="code"),
        pytest.param("天河区民政局", {MARRIAGE_REG}, {RESTAURANT}, id="department"),
        pytest.param("qqqq", set(), {RESTAURANT, MARRIAGE_REG}, id="nothing"),
    ],
)
def test_a_query_finds_items_by_name_keyword_or_pinyin(
    query: str, found: set[str], not_found: set[str]
) -> None:
    hits = set(ItemSearch(load_items(DEMO_ITEMS)).find(query))
    assert found <= hits, hits
    assert not (not_found & hits), hits


def test_no_query_finds_every_item_in_catalogue_order() -> None:
    catalogue = load_items(DEMO_ITEMS)
    assert ItemSearch(catalogue).find("  ") == list(catalogue.items)


def test_pinyin_is_computed_once_per_catalogue_loaded_not_per_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = itemsearch.lazy_pinyin

    def counting(text: str, **kw: object) -> list[str]:
        calls.append(text)
        return real(text, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(itemsearch, "lazy_pinyin", counting)
    world.svc.hall.items()  # the catalogue in force is already loaded (and indexed)
    with TestClient(create_app(world.svc)) as browser:
        for q in ("spjy", "kfd", "spjy", "餐馆"):
            page = browser.get("/services", params={"q": q})
            assert page.status_code == 200
        assert "食品经营许可（开办餐馆）" in browser.get("/services", params={"q": "spjy"}).text
        assert "内地居民结婚登记" not in browser.get("/services", params={"q": "spjy"}).text
        assert calls == []  # no pinyin was computed by a request
        world.svc.hall.import_items(load_items(DEMO_ITEMS))  # a new catalogue: indexed once
        assert browser.get("/services", params={"q": "kfd"}).status_code == 200
        once = len(calls)
        assert once > 0
        browser.get("/services", params={"q": "kfd"})
        assert len(calls) == once


def test_a_bad_query_is_refused_or_cut_never_a_server_error(world: World) -> None:
    with TestClient(create_app(world.svc), raise_server_exceptions=False) as browser:
        assert browser.get("/services", params={"q": "x" * 5000}).status_code in (200, 422)
        assert browser.get("/services?q=%ED%A0%80").status_code in (
            200,
            400,
            422,
        )  # decoded as U+FFFD
        assert browser.get("/services", params={"q": "\x00"}).status_code in (200, 400, 422)
