"""What issue 18 saw in the pages, fixed: the console's "back to edit" keeps what was typed (and a
refused draft comes back filled, the error beside it); the console's default ``valid_from`` is
China's date; the desk's check details and the import's errors say it in Chinese too, with
times in China time; error pages say it in Chinese; a holder's versions fold under the one in
force."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.domain.licence import Licence, LicenceStatus, fold_versions
from elicence.templates.texts import CHECK_ZH, check_zh, china_time, error_zh, field_zh
from elicence.verifier.report import CheckName
from tests.conftest import Clock, food_permit
from tests.holder.conftest import ORG_X, World
from tests.holder.web import csrf_of, form_fields, sign_in_holder, sign_in_key

BASE = "https://hall.example.gov.cn"


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.service), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def _console(world: World, browser: TestClient) -> None:
    page = sign_in_key(browser, world.keys.gz_amr, "/console")
    assert page.status_code == 200, page.text


def _typed(browser: TestClient) -> dict[str, str]:
    body = food_permit("EDIT-1")
    page = browser.get(f"/console/issue?type={body['type_code']}")
    holder: dict[str, str] = body["holder"]  # type: ignore[assignment]
    data: dict[str, str] = body["data"]  # type: ignore[assignment]
    return {
        "csrf": csrf_of(page.text),
        "type_code": str(body["type_code"]),
        "source_ref": "EDIT-1",
        "licence_number": str(body["licence_number"]),
        "holder_name": holder["name"],
        "holder_id_type": holder["id_type"],
        "holder_id": holder["id_number"],
        "valid_from": "2026-11-28",
        "valid_until": "2031-11-27",
        **{f"data.{k}": v for k, v in data.items()},
    }


def _shown(page: str) -> dict[str, str]:
    """The values of the issue form's inputs as the page shows them."""
    fields = form_fields(page, "/console/preview")
    selected = re.search(r'<select id="holder_id_type".*?value="([^"]+)" selected', page, re.S)
    if selected:
        fields["holder_id_type"] = selected.group(1)
    return fields


def test_back_to_edit_keeps_every_field_as_typed(world: World, browser: TestClient) -> None:
    _console(world, browser)
    typed = _typed(browser)
    preview = browser.post("/console/preview", data=typed)
    assert preview.status_code == 200, preview.text
    back = browser.post("/console/edit", data=form_fields(preview.text, "/console/edit"))
    assert back.status_code == 200, back.text
    shown = _shown(back.text)
    for name, value in typed.items():
        if name != "csrf":
            assert shown.get(name) == value, (name, shown.get(name), value)
    # and the form it shows previews the same draft again
    again = browser.post("/console/preview", data=shown)
    assert again.status_code == 200, again.text
    assert (
        form_fields(again.text, "/console/confirm")["request"]
        == (form_fields(preview.text, "/console/confirm")["request"])
    )


def test_back_to_edit_needs_the_csrf_token_and_a_department(
    world: World, browser: TestClient
) -> None:
    _console(world, browser)
    preview = browser.post("/console/preview", data=_typed(browser))
    fields = form_fields(preview.text, "/console/edit")
    r = browser.post("/console/edit", data={**fields, "csrf": "forged"})
    assert r.status_code == 401 and "csrf" in r.text
    browser.cookies.clear()
    r = browser.post("/console/edit", data=fields, follow_redirects=False)
    assert r.status_code in (303, 401)


def test_a_refused_draft_comes_back_filled_with_the_error_beside_the_field(
    world: World, browser: TestClient
) -> None:
    _console(world, browser)
    typed = _typed(browser)
    typed["holder_id"] = "91350100M000100Y44"  # wrong check character
    before = world.service.registry.count_licences()
    r = browser.post("/console/preview", data=typed)
    assert r.status_code == 422
    assert world.service.registry.count_licences() == before
    shown = _shown(r.text)
    assert shown["holder_id"] == "91350100M000100Y44" and shown["source_ref"] == "EDIT-1"
    assert shown["data.business_premises"] == typed["data.business_premises"]
    alert = re.search(
        r'<div class="verdict bad" role="alert" id="error">(.*?)</div>\n</div>', r.text, re.S
    )
    assert alert, r.text
    text = html.unescape(alert.group(1))
    assert "证件号码" in text and "holder.id_number" in text  # Chinese and the API's field
    assert re.search(r'<input id="holder_id" aria-invalid="true" aria-describedby="error"', r.text)


def test_the_consoles_valid_from_is_chinas_date(
    world: World, browser: TestClient, clock: Clock
) -> None:
    clock.now = dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)  # 01:00 on 1 December in Beijing
    _console(world, browser)
    page = browser.get(f"/console/issue?type={food_permit()['type_code']}")
    assert 'id="valid_from" name="valid_from" type="date" required value="2026-12-01"' in page.text


def test_the_desk_says_every_check_in_chinese_and_its_times_in_china_time(
    world: World, browser: TestClient
) -> None:
    page = sign_in_key(browser, world.keys.hall, "/desk")
    r = browser.post("/desk", data={"csrf": csrf_of(page.text), "code": world.food["seal"]})
    assert r.status_code == 200, r.text
    details = re.findall(r'<span class="detail">(.*?)</span></li>', r.text, re.S)
    assert len(details) >= 10
    for d in details:
        zh, _, en = d.partition(' <span lang="en">')
        assert re.search(r"[\u4e00-\u9fff]", zh), d  # a Chinese sentence first
        assert not re.search(r"\d{2}:\d{2}(:\d{2})?(Z|\+00:00)|\bUTC\b", en), d
    assert "数字签名有效" in r.text and "查验时间（北京时间）" in r.text


def test_check_details_convert_utc_instants_to_china_time() -> None:
    assert china_time("sealed 2026-11-28T16:30:00Z; valid 2026-01-01T00:00:00+00:00") == (
        "sealed 2026-11-29 00:30:00; valid 2026-01-01 08:00:00"
    )
    assert china_time("within its window 23:59:00-00:00:30 UTC") == (
        "within its window 07:59:00-08:00:30"
    )
    assert china_time("not valid before 02:00:00 UTC: check") == "not valid before 10:00:00: check"
    for name in CheckName:
        assert str(name) in CHECK_ZH
        assert check_zh(name, True) != check_zh(name, False)


@pytest.mark.parametrize(
    ("code", "message", "field", "expected"),
    [
        ("invalid_input", "is required", "holder.name", "持证主体名称：输入有误（必填）"),
        (
            "invalid_input",
            "wrong check character",
            "holder.id_number",
            "证件号码：输入有误（校验码不正确）",
        ),
        (
            "source_ref_conflict",
            "taken",
            "source_ref",
            "业务流水号：业务流水号已用于另一份不同的申请",
        ),
        (
            "cited_licence_revoked",
            "revoked",
            "licences[1]",
            "引用的证照 第 2 项：引用的证照不能采信",
        ),
        ("something_new", "odd", None, "无法完成"),
    ],
    ids=["required", "check-character", "conflict", "citation", "unknown-code"],
)
def test_errors_in_chinese(code: str, message: str, field: str | None, expected: str) -> None:
    assert error_zh(code, message, field) == expected


def test_a_data_field_is_named_by_its_label() -> None:
    assert field_zh("data.residence", {"data.residence": "住所"}) == "住所"


def test_import_errors_carry_a_chinese_message(world: World, browser: TestClient) -> None:
    page = sign_in_key(browser, world.keys.gz_amr, "/console")
    bad = food_permit("IMP-ZH")
    bad["holder"] = {**bad["holder"], "id_number": "91350100M000100Y44"}  # type: ignore[dict-item]
    r = browser.post(
        "/console/import", json={"items": [bad]}, headers={"X-CSRF-Token": csrf_of(page.text)}
    )
    [result] = r.json()["results"]
    assert result["error"]["field"] == "holder.id_number"
    assert result["error"]["message_zh"].startswith("证件号码：")
    assert result["error"]["message"]  # the API's own words kept
    refused = browser.post("/console/import", json={"items": [bad]})
    assert refused.json()["error"]["message_zh"].startswith("表单")


def test_an_error_page_says_it_in_chinese_too(world: World, browser: TestClient) -> None:
    page = sign_in_key(browser, world.keys.hall, "/desk")
    r = browser.post("/desk", data={"csrf": csrf_of(page.text), "code": "   "})
    assert r.status_code == 422
    assert "码：输入有误" in html.unescape(r.text) and 'lang="en">scan or paste a code' in r.text


def _version(lic: Licence, n: int, status: LicenceStatus, nxt: str | None) -> Licence:
    return dataclasses.replace(
        lic,
        identifier=f"{lic.identifier[:-6]}{n:03d}.X",
        version=n,
        status=status,
        superseded_by=nxt,
        issued_at=lic.issued_at + dt.timedelta(days=n),
    )


def test_the_version_in_force_comes_first_with_older_versions_under_it(world: World) -> None:
    lic = world.service.registry.licence(world.food["identifier"])
    assert lic is not None
    v3 = _version(lic, 3, LicenceStatus.VALID, None)
    v2 = _version(lic, 2, LicenceStatus.SUPERSEDED, v3.identifier)
    v1 = _version(lic, 1, LicenceStatus.SUPERSEDED, v2.identifier)
    revoked = dataclasses.replace(
        lic,
        identifier="other",
        status=LicenceStatus.REVOKED,
        issued_at=lic.issued_at + dt.timedelta(days=9),
    )
    folded = fold_versions([v1, revoked, v2, v3], dt.date(2026, 12, 1))
    assert [(head.identifier, [o.version for o in older]) for head, older in folded] == [
        (v3.identifier, [2, 1]),
        ("other", []),
    ]


def test_me_lists_the_version_in_force_first_and_folds_the_older_under_it(
    world: World, browser: TestClient
) -> None:
    old = world.food["identifier"]
    r = world.api.post(
        f"/api/v1/licences/{old}/amend",
        json={"reason": "经营场所变更", "changes": {"licence_number": "JY14401060000777"}},
        headers=world.keys.h("gz_amr"),
    )
    assert r.status_code in (200, 201), r.text
    new = r.json()["new_version"]["identifier"]
    page = sign_in_holder(browser, "001", ORG_X, "某某餐饮")
    assert page.status_code == 200
    text = page.text
    cards = text.split('<li class="card">')[1:]
    assert len(cards) == 1, cards  # one licence, two versions
    head = re.search(r'<h2><a href="/me/licences/([^"]+)"', cards[0])
    assert head is not None and head.group(1) == new
    folded = re.search(r'<details class="older">(.*?)</details>', cards[0], re.S)
    assert folded is not None and f'href="/me/licences/{old}"' in folded.group(1)
    assert "已被替代" in folded.group(1)
