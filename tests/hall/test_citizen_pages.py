"""The hall's pages for citizens (issue 18), over HTTP as a browser sends them: find an item,
read its guide, sign in and apply citing an e-licence with one tap and uploading a file, follow
the case, hand in a supplement, see the result, rate it, complain; the progress page without a
login. Bad input on every form is the field's error and stores nothing; CSRF on every POST; a
holder never sees another's cases or uploads. On SQLite and PostgreSQL (``any_world``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import only_limits
from tests.hall.conftest import ORG, ORG2, PDF, RESTAURANT, TH_AMR, World
from tests.hall.web import (
    FORM,
    ORG_NAME,
    cases_of,
    post_raw_multipart,
    sign_in,
    web_browser,
)
from tests.holder.web import csrf_of


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    with web_browser(world) as c:
        yield c


def _apply(c: TestClient, world: World, *, files: dict[str, Any] | None = None, **over: str) -> Any:
    page = c.get(f"/services/{RESTAURANT}/apply")
    assert page.status_code == 200, page.text
    data = {
        "csrf": csrf_of(page.text),
        **FORM,
        "licence.business_licence": world.idents["biz"],
        **over,
    }
    data = {k: v for k, v in data.items() if v is not None}
    if files is None:
        files = {"upload.premises_layout": ("layout.pdf", PDF, "application/pdf")}
    return c.post(f"/services/{RESTAURANT}/apply", data=data, files=files, follow_redirects=False)


# -- find and understand ------------------------------------------------------------------------


def test_the_services_page_finds_items_by_scenario_audience_department_and_search(
    world: World, browser: TestClient
) -> None:
    page = browser.get("/services")
    assert page.status_code == 200
    assert "我要开餐馆" in page.text and "我要生小孩" in page.text
    found = browser.get("/services", params={"q": "餐馆"}).text
    assert "食品经营许可（开办餐馆）" in found and "结婚登记" not in found
    assert "食品经营许可（开办餐馆）" in browser.get("/services", params={"q": "440106-scj"}).text
    people = browser.get("/services", params={"audience": "natural_person"}).text
    assert "结婚登记" in people and "食品经营许可（开办餐馆）" not in people
    dept = browser.get("/services", params={"department": TH_AMR}).text
    assert "食品经营许可（开办餐馆）" in dept and "结婚登记" not in dept
    scenario = browser.get("/services/scenarios/open-restaurant")
    assert scenario.status_code == 200 and f"/services/{RESTAURANT}/apply" in scenario.text
    assert browser.get("/services/scenarios/nope").status_code == 404


def test_an_items_guide_says_what_an_e_licence_covers_and_how_to_upload(
    world: World, browser: TestClient
) -> None:
    guide = browser.get(f"/services/{RESTAURANT}")
    assert guide.status_code == 200
    text = guide.text
    assert "营业执照" in text and "免交纸质原件及复印件" in text  # covered by the e-licence
    assert "PDF、PNG、JPEG，不超过 2 MB" in text  # the upload's format and size
    assert "10 个工作日" in text and "3 级" in text and "最多 1 次" not in text
    assert "最多 0 次" in text  # max visits
    assert f'href="/services/{RESTAURANT}/apply"' in text and "网上申办" in text
    assert browser.get("/services/NOPE-0001").status_code == 404


# -- apply ----------------------------------------------------------------------------------------


def test_a_citizen_applies_citing_its_licence_with_one_tap_and_uploading_a_file(
    any_world: World,
) -> None:
    world = any_world
    with web_browser(world) as c:
        sign_in(c)
        form = c.get(f"/services/{RESTAURANT}/apply")
        assert form.status_code == 200
        assert ORG_NAME in form.text and ORG in form.text  # from the sign-in
        assert f'value="{world.idents["biz"]}"' in form.text  # its own business licence
        assert world.idents["biz2"] not in form.text  # not another holder's
        r = _apply(c, world)
        assert r.status_code == 303, r.text
        number = re.search(r"/me/cases/([0-9A-Z]{21})", r.headers["location"])
        assert number
        page = c.get(r.headers["location"])
        assert page.status_code == 200
        assert "申请已提交" in page.text and number.group(1)[:-1] in page.text
        assert "<mark>" + number.group(1)[-1] + "</mark>" in page.text  # the check character
        assert "10 个工作日" in page.text
        case = cases_of(world)[0]
        assert case["number"] == number.group(1) and case["channel"] == "online"
        assert case["citations"][0]["identifier"] == world.idents["biz"]

        # a second application: the form remembers, and offers the earlier upload
        again = c.get(f"/services/{RESTAURANT}/apply").text
        assert 'value="广州市天河区天河路385号首层101铺"' in again
        assert "已提交过的电子材料无需重复提交" in again
        sha = case["uploads"][0]["sha256"]
        assert f'name="reuse.premises_layout" value="{sha}"' in again
        r = _apply(c, world, files={}, **{"reuse.premises_layout": sha})
        assert r.status_code == 303, r.text
        cases = cases_of(world)
        assert len(cases) == 2
        hashes = {c["uploads"][0]["sha256"] for c in cases}
        assert len(hashes) == 1  # the same content, its hash kept


@pytest.mark.parametrize(
    ("change", "files", "field", "words"),
    [
        pytest.param(
            {"form.business_premises": ""}, None, "form.business_premises", "必填", id="missing"
        ),
        pytest.param(
            {"form.legal_representative": "张" * 21},
            None,
            "form.legal_representative",
            "最多 20 个",
            id="too-long",
        ),
        pytest.param({}, {}, "upload.premises_layout", "必须上传", id="no-upload"),
        pytest.param(
            {},
            {"upload.premises_layout": ("x.pdf", b"GIF89a not a pdf", "application/pdf")},
            "upload.premises_layout",
            "文件内容与类型不符",
            id="wrong-type",
        ),
        pytest.param(
            {"licence.business_licence": "", "paste.business_licence": "EL1:forged"},
            None,
            "licence.business_licence",
            "",
            id="forged-seal",
        ),
        pytest.param(
            {"licence.business_licence": "OTHER"},
            None,
            "licence.business_licence",
            "不属于申请人",
            id="another-holders-licence",
        ),
        pytest.param(
            {},
            {
                "upload.premises_layout": (
                    "big.pdf",
                    b"%PDF-" + b"0" * (3 * 1024 * 1024),
                    "application/pdf",
                )
            },
            "upload.premises_layout",
            "文件过大",
            id="too-large",
        ),
    ],
)
def test_bad_input_on_the_form_shows_the_fields_error_and_stores_nothing(
    world: World,
    browser: TestClient,
    change: dict[str, str],
    files: dict[str, Any] | None,
    field: str,
    words: str,
) -> None:
    sign_in(browser)
    if change.get("licence.business_licence") == "OTHER":
        change = {"licence.business_licence": world.idents["biz2"]}
    r = _apply(browser, world, files=files, **change)
    assert 400 <= r.status_code < 500, r.text
    assert f'id="e-{field}"' in r.text, r.text[-3000:]
    assert words in r.text
    assert cases_of(world) == []
    # what was typed is kept
    if "form.business_items" not in change:
        assert 'value="热食类食品制售"' in r.text


def test_a_fifty_megabyte_upload_is_refused_unread_and_stores_nothing(
    world: World, browser: TestClient
) -> None:
    sign_in(browser)
    big = b"%PDF-" + b"0" * (50 * 1024 * 1024)
    r = _apply(
        browser, world, files={"upload.premises_layout": ("big.pdf", big, "application/pdf")}
    )
    assert r.status_code == 413
    assert cases_of(world) == []


def test_a_lone_surrogate_is_refused_naming_the_field(world: World, browser: TestClient) -> None:
    sign_in(browser)
    page = browser.get(f"/services/{RESTAURANT}/apply")
    parts = {"csrf": csrf_of(page.text).encode(), "form.business_items": b"\xed\xa0\x80"}
    r = post_raw_multipart(browser, f"/services/{RESTAURANT}/apply", parts)
    assert r.status_code == 422 and "form.business_items" in r.text, r.text[-1500:]
    assert cases_of(world) == []


def test_every_citizen_form_needs_its_csrf_token(world: World, browser: TestClient) -> None:
    sign_in(browser)
    number = world.open_restaurant_case()
    for path in (
        f"/services/{RESTAURANT}/apply",
        f"/me/cases/{number}/supplement",
        f"/me/cases/{number}/rating",
        f"/me/cases/{number}/complaints",
        "/progress",
    ):
        for data in ({}, {"csrf": "forged"}):
            r = browser.post(path, data={**data, **FORM}, follow_redirects=False)
            assert r.status_code in (401, 422) and "csrf" in r.text, (path, data, r.status_code)
    assert len(cases_of(world)) == 1
    assert world.api.get("/api/v1/complaints", headers=world.h("org")).json() == []


def test_a_holder_never_sees_another_holders_cases_or_uploads(
    world: World, browser: TestClient
) -> None:
    theirs = world.open_restaurant_case("org")
    their_sha = cases_of(world)[0]["uploads"][0]["sha256"]
    sign_in(browser, ORG2, "另一家公司")
    assert theirs not in browser.get("/me/cases").text
    assert browser.get(f"/me/cases/{theirs}").status_code == 404
    assert browser.get(f"/me/cases/{theirs}/uploads/premises_layout").status_code == 404
    page = browser.get(f"/services/{RESTAURANT}/apply")
    assert theirs not in page.text and their_sha not in page.text  # its upload is not offered
    r = browser.post(
        f"/services/{RESTAURANT}/apply",
        data={
            "csrf": csrf_of(page.text),
            **FORM,
            "licence.business_licence": world.idents["biz2"],
            "reuse.premises_layout": their_sha,
        },
        follow_redirects=False,
    )
    assert r.status_code == 404 and 'id="e-upload.premises_layout"' in r.text
    assert len(cases_of(world, "org2")) == 0


# -- follow, supplement, result, rate ----------------------------------------------------------


def test_the_case_is_followed_to_its_licence_rated_and_complained_about(
    world: World, browser: TestClient
) -> None:
    sign_in(browser)
    r = _apply(browser, world)
    number = r.headers["location"].split("/")[-1].split("?")[0]
    world.drive(number, "accept", "start-review", who="th_amr")
    assert (
        world.step("th_amr", number, "request-supplement", "请补充平面图比例尺").status_code == 200
    )
    notices = browser.get("/me/notices").text
    assert "需要补正" in notices and "请补充平面图比例尺" in notices
    page = browser.get(f"/me/cases/{number}").text
    assert "请补充平面图比例尺" in page and f"/me/cases/{number}/supplement" in page
    r = browser.post(
        f"/me/cases/{number}/supplement",
        data={"csrf": csrf_of(page), "note": "已补充"},
        files={"upload.premises_layout": ("layout2.pdf", PDF + b"%2", "application/pdf")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert cases_of(world)[0]["status"] == "under_review"
    world.drive(number, "approve", "complete", who="th_amr")
    page = browser.get(f"/me/cases/{number}").text
    licence = cases_of(world)[0]["licence"]
    assert licence and f"/me/licences/{licence}/pdf" in page
    assert browser.get(f"/me/licences/{licence}/pdf").content.startswith(b"%PDF-")
    assert "办件" in browser.get("/me/notices").text
    # a rating with a dimension missing: the field's error, nothing stored
    bad = {"csrf": csrf_of(page), "stars": "5", "dim.guidance": "5", "dim.application": "4"}
    r = browser.post(f"/me/cases/{number}/rating", data=bad)
    assert r.status_code == 422 and "dim.visits" in r.text
    assert (
        world.api.get(f"/api/v1/cases/{number}/rating", headers=world.h("org")).status_code == 404
    )
    good = {**bad, "dim.visits": "5", "dim.result": "4", "comment": "很方便"}
    r = browser.post(f"/me/cases/{number}/rating", data=good)
    assert r.status_code == 200 and "感谢您的评价" in r.text and "很方便" in r.text
    again = browser.post(f"/me/cases/{number}/rating", data={**good, "csrf": csrf_of(r.text)})
    assert again.status_code == 409
    r = browser.post(
        f"/me/cases/{number}/complaints", data={"csrf": csrf_of(r.text), "text": "窗口电话难打通"}
    )
    assert r.status_code == 200 and "窗口电话难打通" in r.text
    empty = browser.post(
        f"/me/cases/{number}/complaints", data={"csrf": csrf_of(r.text), "text": ""}
    )
    assert empty.status_code == 422


def test_progress_without_a_login(world: World, browser: TestClient) -> None:
    number = world.open_restaurant_case()
    world.svc.guard.limits = only_limits(progress_ip="1/h burst 100", progress_case="1/min burst 5")
    page = browser.get("/progress")
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text), "case_number": number, "id_type": "001"}
    r = browser.post("/progress", data={**form, "holder_id": ORG})
    assert r.status_code == 200 and "食品经营许可（开办餐馆）" in r.text
    wrong = browser.post("/progress", data={**form, "holder_id": ORG2})
    assert wrong.status_code == 404 and "没有该申请人的这个办件编号" in wrong.text
    wrong_check = "1" if number[-1] == "0" else "0"  # one character off: the check says so
    typo = browser.post(
        "/progress", data={**form, "case_number": number[:-1] + wrong_check, "holder_id": ORG}
    )
    assert typo.status_code == 422 and "校验位" in typo.text
    statuses = [
        browser.post("/progress", data={**form, "holder_id": ORG}).status_code for _ in range(8)
    ]
    assert statuses[-1] == 429  # 5 per case number, then one a minute
    assert "请求过于频繁" in browser.post("/progress", data={**form, "holder_id": ORG}).text


def test_favourites_are_kept_per_holder(world: World, browser: TestClient) -> None:
    guide = browser.get(f"/services/{RESTAURANT}")
    assert "收藏" not in guide.text  # no session: nothing to keep it for
    sign_in(browser)
    guide = browser.get(f"/services/{RESTAURANT}")
    data = {"csrf": csrf_of(guide.text), "code": RESTAURANT, "on": "1"}
    r = browser.post("/me/favourites", data=data)
    assert r.status_code == 200 and "已收藏" in r.text and "取消收藏" in r.text
    assert browser.post("/me/favourites", data=data).status_code == 200  # twice: no change
    services = browser.get("/services").text
    assert "我的收藏" in services and f'href="/services/{RESTAURANT}"' in services
    bad = browser.post("/me/favourites", data={**data, "code": "NOPE-0001"})
    assert bad.status_code == 404
    assert browser.post("/me/favourites", data={**data, "csrf": "x"}).status_code == 401
    with web_browser(world) as other:
        sign_in(other, ORG2, "另一家公司")
        assert "我的收藏" not in other.get("/services").text
    r = browser.post("/me/favourites", data={**data, "on": "0"})
    assert "我的收藏" not in browser.get("/services").text


def test_a_bad_ratings_rectification_is_shown_to_the_applicant(
    world: World, browser: TestClient
) -> None:
    sign_in(browser)
    number = _apply(browser, world).headers["location"].split("/")[-1].split("?")[0]
    world.drive(number, "accept", "start-review", "approve", "complete", who="th_amr")
    page = browser.get(f"/me/cases/{number}").text
    bad = {f"dim.{d}": "1" for d in ("guidance", "application", "visits", "result")}
    r = browser.post(
        f"/me/cases/{number}/rating", data={"csrf": csrf_of(page), "stars": "1", **bad}
    )
    assert r.status_code == 200 and "整改工单" in r.text
    order = world.api.get("/api/v1/rectifications", headers=world.h("th_amr")).json()[0]
    done = world.api.post(
        f"/api/v1/rectifications/{order['id']}/resolve",
        json={"note": "已增加窗口人手"},
        headers=world.h("th_amr"),
    )
    assert done.status_code == 200, done.text
    page = browser.get(f"/me/cases/{number}").text
    assert "完成整改" in page and "已增加窗口人手" in page


def test_notices_count_unread_ones_in_the_header_until_seen(
    world: World, browser: TestClient
) -> None:
    sign_in(browser)
    number = _apply(browser, world).headers["location"].split("/")[-1].split("?")[0]
    assert 'class="count"' not in browser.get("/me").text  # nothing to tell yet
    world.drive(number, "accept", "start-review", who="th_amr")
    world.step("th_amr", number, "request-supplement", "请补充平面图比例尺")
    me = browser.get("/me").text
    assert re.search(r'<span class="count" aria-label="1 条未读 unread">1</span>', me)
    seen = browser.get("/me/notices").text
    assert "新" in seen and "请补充平面图比例尺" in seen
    assert 'class="count"' not in browser.get("/me").text  # seen
    assert 'class="count"' not in browser.get("/services").text
    page = browser.get(f"/me/cases/{number}")
    browser.post(
        f"/me/cases/{number}/supplement",
        data={"csrf": csrf_of(page.text), "note": "已补充"},
        files={"upload.premises_layout": ("l.pdf", PDF, "application/pdf")},
    )
    assert world.step("th_amr", number, "refuse", "不符合条件").status_code == 200
    assert 'aria-label="1 条未读 unread"' in browser.get("/me").text  # the state changed
    with web_browser(world) as other:  # another holder in another browser sees nothing of it
        sign_in(other, ORG2, "另一家公司")
        assert 'class="count"' not in other.get("/me").text
