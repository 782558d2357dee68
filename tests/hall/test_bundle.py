"""A scenario bundle (一条龙) applied for in one guided flow (issue 18): one form built from the
bundle's items, each field and material the items share (same name) asked once, each item's own
grouped under it; submitted as one case per item, all or none — a refused item stores nothing of
any, its error shown beside its field — and a receipt with each case number, its check character
and its promised working days. On SQLite and PostgreSQL where it stores."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.hall.conftest import ORG, PDF, PERSON, World
from tests.hall.test_submit import count
from tests.hall.web import ORG_NAME, cases_of, post_raw_multipart, sign_in, web_browser
from tests.holder.web import csrf_of, sign_in_holder

RESTAURANT_BUNDLE = "/services/scenarios/open-restaurant"
BABY_BUNDLE = "/services/scenarios/have-a-baby"
OWN = {
    "i0.form.legal_representative": "张三",
    "i0.form.residence": "广州市天河区天河路385号",
    "i0.form.business_premises": "广州市天河区天河路385号首层101铺",
    "i0.form.main_business_format": "餐饮服务经营者",
    "i0.form.business_items": "热食类食品制售",
    "i1.form.premises_address": "广州市天河区天河路385号首层101铺",
    "i1.form.floor_area": "120",
}


def _files() -> dict[str, Any]:
    return {
        "i0.upload.premises_layout": ("layout.pdf", PDF, "application/pdf"),
        "i1.upload.fire_commitment": ("commitment.pdf", PDF, "application/pdf"),
    }


def _post(c: TestClient, world: World, *, files: dict[str, Any] | None = None, **over: str) -> Any:
    page = c.get(f"{RESTAURANT_BUNDLE}/apply")
    assert page.status_code == 200, page.text
    data = {
        "csrf": csrf_of(page.text),
        "licence.business_licence": world.idents["biz"],
        **OWN,
        **over,
    }
    return c.post(
        f"{RESTAURANT_BUNDLE}/apply",
        data={k: v for k, v in data.items() if v is not None},
        files=_files() if files is None else files,
        follow_redirects=False,
    )


def test_the_bundle_form_asks_each_shared_field_once_and_groups_the_rest(
    world: World,
) -> None:
    with web_browser(world) as c:
        sign_in(c)
        scenario = c.get(RESTAURANT_BUNDLE).text
        assert f'href="{RESTAURANT_BUNDLE}/apply"' in scenario  # the one-form flow is offered
        page = c.get(f"{RESTAURANT_BUNDLE}/apply").text
    assert ORG_NAME in page and ORG in page  # from the sign-in
    # the business licence both items cite: one picker, unscoped, saying what it is for
    assert page.count('name="licence.business_licence"') == 1
    assert "i0.licence.business_licence" not in page and "i1.licence" not in page
    assert "用于" in page and "消防安全检查" in page
    # each item's own fields and uploads, under it
    for name in (*OWN, "i0.upload.premises_layout", "i1.upload.fire_commitment"):
        assert f'name="{name}"' in page, name
    assert page.index("事项 1") < page.index("i0.form.legal_representative") < page.index("事项 2")
    assert page.index("事项 2") < page.index("i1.form.floor_area")


def test_a_shared_form_field_is_asked_once_and_given_to_each_item(world: World) -> None:
    with web_browser(world) as c:
        assert sign_in_holder(c, "111", PERSON, "李四").status_code == 200
        page = c.get(f"{BABY_BUNDLE}/apply")
        assert page.status_code == 200, page.text
        text = page.text
        assert text.count('name="form.child_name"') == 1  # 出生医学证明 and 入户 share it
        assert text.count('name="licence.marriage_certificate"') == 1  # all four cite it
        data = {
            "csrf": csrf_of(text),
            "form.child_name": "李小四",
            "licence.marriage_certificate": world.idents["marriage"],
            "i0.form.expected_date": "2027-01-01",
            "i0.form.spouse_name": "王五",
            "i1.form.birth_date": "2027-01-01",
            "i1.form.birth_institution": "广州市妇女儿童医疗中心",
            "i2.form.household_address": "广州市天河区天河路385号",
            "i3.form.bank_account": "6222020000000000",
        }
        files = {
            "i1.upload.birth_record": ("r.pdf", PDF, "application/pdf"),
            "i2.upload.birth_certificate_scan": ("s.pdf", PDF, "application/pdf"),
            "i3.upload.invoices": ("i.pdf", PDF, "application/pdf"),
        }
        r = c.post(f"{BABY_BUNDLE}/apply", data=data, files=files, follow_redirects=False)
        assert r.status_code == 303, r.text[-2000:]
    cases = cases_of(world, "person")
    assert len(cases) == 4
    named = [c["form"].get("child_name") for c in cases]
    assert named.count("李小四") == 2
    assert all(c["citations"][0]["identifier"] == world.idents["marriage"] for c in cases)
    # the three PDFs are the same file: stored once
    assert count(world, "hall_blobs") == 1 and count(world, "hall_uploads") == 3


def test_the_bundle_is_one_case_per_item_with_a_receipt(any_world: World) -> None:
    world = any_world
    with web_browser(world) as c:
        sign_in(c)
        r = _post(c, world)
        assert r.status_code == 303, r.text[-3000:]
        numbers = re.findall(r"n=([0-9A-Z]{21})", r.headers["location"])
        assert len(numbers) == 2
        receipt = c.get(r.headers["location"])
        assert receipt.status_code == 200
        for n in numbers:
            assert f"{n[:-1]}<mark>{n[-1]}</mark>" in receipt.text  # the check character marked
        assert receipt.text.count("10 个工作日") == 2  # each item's promised working days
        # another holder's number in the receipt's address is not shown
        theirs = world.restaurant(
            licences=[{"material": "business_licence", "seal": world.seals["biz2"]}]
        )
        made = world.submit("org2", theirs, {"premises_layout": ("l.pdf", PDF, "application/pdf")})
        assert made.status_code == 201, made.text
        other = made.json()["number"]
        shown = c.get(f"{RESTAURANT_BUNDLE}/receipt?n={numbers[0]}&n={other}").text
        assert other[:-1] not in shown and numbers[0][:-1] in shown
    cases = {c["number"]: c for c in cases_of(world)}
    assert set(numbers) <= set(cases)
    food, fire = (cases[n] for n in numbers)
    assert food["item"]["code"] == "440106-SCJ-0001" and fire["item"]["code"] == "440106-XF-0001"
    for case in (food, fire):
        assert case["citations"][0]["identifier"] == world.idents["biz"]
        assert case["channel"] == "online"
    assert fire["form"] == {
        "premises_address": "广州市天河区天河路385号首层101铺",
        "floor_area": "120",
    }


@pytest.mark.parametrize(
    ("change", "files", "field", "words"),
    [
        pytest.param({"i1.form.floor_area": ""}, None, "i1.form.floor_area", "必填", id="missing"),
        pytest.param(
            {"i1.form.floor_area": "1" * 11},
            None,
            "i1.form.floor_area",
            "最多 10 个",
            id="too-long",
        ),
        pytest.param(
            {},
            {
                **_files(),
                "i1.upload.fire_commitment": ("c.png", b"\x89PNG\r\n\x1a\n0", "image/png"),
            },
            "i1.upload.fire_commitment",
            "不支持的文件类型",
            id="wrong-type",
        ),
        pytest.param(
            {},
            {"i0.upload.premises_layout": ("layout.pdf", PDF, "application/pdf")},
            "i1.upload.fire_commitment",
            "必须上传",
            id="second-item-refused",
        ),
        pytest.param(
            {"licence.business_licence": "OTHER"},
            None,
            "licence.business_licence",
            "不属于申请人",
            id="another-holders-licence",
        ),
        pytest.param(
            {"i0.reuse.premises_layout": "0" * 64},
            {"i1.upload.fire_commitment": ("c.pdf", PDF, "application/pdf")},
            "i0.upload.premises_layout",
            "",
            id="reuse-unknown",
        ),
    ],
)
def test_any_item_refused_stores_none_and_shows_the_fields_error(
    world: World, change: dict[str, str], files: dict[str, Any] | None, field: str, words: str
) -> None:
    with web_browser(world) as c:
        sign_in(c)
        if change.get("licence.business_licence") == "OTHER":
            change = {"licence.business_licence": world.idents["biz2"]}
        r = _post(c, world, files=files, **change)
    assert 400 <= r.status_code < 500, r.text[-2000:]
    assert f'id="e-{field}"' in r.text, r.text[-3000:]
    assert words in r.text and "所有事项均未提交" in r.text
    assert count(world, "hall_cases") == 0 and count(world, "hall_uploads") == 0
    assert count(world, "hall_blobs") == 0
    assert 'value="热食类食品制售"' in r.text  # what was typed is kept


def test_a_lone_surrogate_in_a_bundle_field_is_refused_and_stores_nothing(world: World) -> None:
    with web_browser(world) as c:
        sign_in(c)
        page = c.get(f"{RESTAURANT_BUNDLE}/apply")
        parts = {
            "csrf": csrf_of(page.text).encode(),
            "licence.business_licence": world.idents["biz"].encode(),
            **{k: v.encode() for k, v in OWN.items()},
            "i1.form.premises_address": b"\xed\xa0\x80",
        }
        r = post_raw_multipart(c, f"{RESTAURANT_BUNDLE}/apply", parts)
    assert r.status_code == 422, r.text[-1500:]
    # refused as the form is read (as on the one-item form): the field named, nothing stored
    assert "<code>i1.form.premises_address</code>" in r.text
    assert count(world, "hall_cases") == 0


def test_the_bundle_form_needs_its_csrf_token_and_a_sign_in(world: World) -> None:
    with web_browser(world) as c:
        anonymous = c.get(f"{RESTAURANT_BUNDLE}/apply", follow_redirects=False)
        assert anonymous.status_code in (200, 303)  # the sign-in page, or a redirect to it
        assert "/login" in anonymous.headers.get("location", "") or "登录" in anonymous.text
        sign_in(c)
        for data in ({}, {"csrf": "forged"}):
            r = c.post(
                f"{RESTAURANT_BUNDLE}/apply",
                data={**data, **OWN, "licence.business_licence": world.idents["biz"]},
                files=_files(),
                follow_redirects=False,
            )
            assert r.status_code in (401, 422) and "csrf" in r.text, r.status_code
    assert count(world, "hall_cases") == 0
    assert c.get("/services/scenarios/nope/apply").status_code in (404, 303)
