"""An item's guide says what it costs, where to go if a visit is needed and which blank forms to
download (issue 18): optional fields of the item catalogue, checked on import (a form the
service's forms directory lacks names its field, and nothing is stored), shown on the guide,
served as downloads of the files the item names and no other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.errors import CatalogueError
from elicence.hall.items_file import DEMO_FORMS, DEMO_ITEMS, parse_items
from tests.hall.conftest import RESTAURANT, World

BASE = "https://hall.example.gov.cn"
FORM = "food-business-application.pdf"


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.svc), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def _import(world: World, old: str, new: str) -> None:
    text = DEMO_ITEMS.read_text(encoding="utf-8")
    assert old in text
    world.svc.hall.import_items(parse_items(text.replace(old, new, 1)))


def test_the_guide_shows_fees_places_and_blank_forms(world: World, browser: TestClient) -> None:
    text = browser.get(f"/services/{RESTAURANT}").text
    assert "不收费" in text and "食品经营许可不收取任何费用" in text
    assert "天河区政务服务中心 市场监管综合窗口" in text
    assert "广州市天河区华观路1933号" in text and "周一至周五 9:00-12:00" in text
    assert 'href="tel:020-88880001"' in text
    assert "全程网办，无需到现场" in text  # max_visits 0: the place is for asking
    assert f'href="/services/{RESTAURANT}/forms/{FORM}" download' in text
    assert "食品经营许可申请书（空白）" in text
    assert "does not record fees" not in text
    # an item the catalogue says nothing of: said so, not made up
    silent = browser.get("/services/440000-SCJ-0001").text
    assert "事项目录未登记收费信息" in silent and "事项目录未登记办理地点" in silent
    assert "本事项无需下载表格" in silent
    # the API serves the same fields
    api = world.api.get(f"/api/v1/service-items/{RESTAURANT}").json()
    assert api["fees"] == [
        {"label_zh": "不收费", "yuan": "0.00", "basis_zh": "食品经营许可不收取任何费用"}
    ]
    assert api["places"][0]["phone"] == "020-8888 0001"
    assert api["blank_forms"] == [{"label_zh": "食品经营许可申请书（空白）", "file": FORM}]


def test_a_fee_is_shown_in_yuan(world: World, browser: TestClient) -> None:
    _import(
        world,
        "{label_zh: 不收费, yuan: 0, basis_zh: 食品经营许可不收取任何费用}",
        "{label_zh: 工本费, yuan: 10.5, basis_zh: 粤价〔演示〕1号}",
    )
    text = browser.get(f"/services/{RESTAURANT}").text
    assert "工本费" in text and "10.50 元" in text and "粤价〔演示〕1号" in text
    assert "Free of charge" not in text


def test_a_blank_form_downloads_as_the_file_the_item_names_and_no_other(
    browser: TestClient,
) -> None:
    r = browser.get(f"/services/{RESTAURANT}/forms/{FORM}")
    assert r.status_code == 200
    assert r.content == (DEMO_FORMS / FORM).read_bytes() and r.content.startswith(b"%PDF-")
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="{FORM}"'
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["x-content-type-options"] == "nosniff"
    txt = browser.get("/services/440106-XF-0001/forms/fire-safety-commitment.txt")
    assert txt.status_code == 200 and "告知承诺书" in txt.text
    assert txt.headers["content-type"].startswith("text/plain")
    # a form of another item, a file the directory holds but no item names, paths: 404
    for path in (
        f"/services/{RESTAURANT}/forms/fire-safety-commitment.txt",
        f"/services/{RESTAURANT}/forms/..%2F..%2Fdemo_service_items.yaml",
        f"/services/{RESTAURANT}/forms/%2Fetc%2Fpasswd",
        f"/services/NOPE-0001/forms/{FORM}",
    ):
        assert browser.get(path).status_code == 404, path


def test_a_form_missing_from_the_forms_directory_is_refused_on_import(world: World) -> None:
    before = world.svc.hall.items_version()
    with pytest.raises(CatalogueError) as e:
        _import(world, f"file: {FORM}", "file: no-such-form.pdf")
    assert e.value.field == "items[0].blank_forms[0].file"
    assert "no-such-form.pdf" in e.value.message and "/" not in e.value.message
    assert world.svc.hall.items_version() == before  # nothing stored
