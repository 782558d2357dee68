"""The licence QR code: every demo licence type fits version 16 at M with long, realistic values;
the PNG served by the API decodes with zbarimg (an independent decoder) to exactly the
verification URL, and that text verifies.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import segno
from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.domain.licence import Licence
from elicence.errors import SealError
from elicence.templates.qr import MAX_VERSION, make_qr, verification_url
from tests.conftest import (
    BIRTH,
    BUSINESS,
    FOOD,
    GZ_AMR,
    GZ_HEALTH,
    MARRIAGE,
    TH_CIVIL,
    ApiKeys,
    food_permit,
)
from tests.tools import tool

MEDICAL = "11100000MB0000000P001"
CONSTRUCTION = "11100000000013904F001"
GD_HOUSING = (
    "11440000MB2C00206M"  # 广东省住房和城乡建设厅: the only issuer of construction licences
)


# Long but realistic values: organisation names of 20-25 characters, long transliterated
# person names (as in Xinjiang or for foreign spouses), every sealed item near the long end of
# what real licences carry, and licence numbers in their longest real formats.
def _business() -> dict[str, Any]:
    return {
        "source_ref": "GZ-SCJ-2026-LONG-BUSINESS-000001",
        "type_code": BUSINESS,
        "licence_number": "91440106MA9W3K8P2R",  # a business licence's number is its USCC
        "holder": {
            "name": "广州市天河区珠江新城企业管理咨询连锁股份有限公司",  # 24
            "id_type": "001",
            "id_number": "91440106MA9W3K8P2R",
        },
        "valid_from": "2026-11-28",
        "data": {
            "company_type": "股份有限公司（非上市、自然人投资或控股）",
            "legal_representative": "阿卜杜热合曼·艾合买提江·买买提依明",  # 18
            "registered_capital": "人民币壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元整",
            "established_on": "2019-12-31",
            "address": "广州市天河区珠江新城华夏路30号富力盈通大厦第四十八层4801-4812房（仅限办公）",
            "business_scope": "企业管理咨询；信息技术咨询服务；餐饮管理；"
            "（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
        },
    }


def _food() -> dict[str, Any]:
    return food_permit(
        "GZ-SCJ-2026-LONG-FOOD-000001",
        licence_number="JY24401060123456",
        holder={
            "name": "广州市天河区珠江新城国际美食城餐饮管理连锁有限公司",  # 25
            "id_type": "001",
            "id_number": "91440101MA5CQ8L3XM",
        },
        data={
            "legal_representative": "买买提江·阿不都热合曼·吐尔逊",  # 15
            "residence": "广州市天河区天河路385号太古汇商场裙楼负一层B101-B115号铺",
            "business_premises": "广州市天河区天河路385号太古汇商场裙楼负一层B101-B115号铺",
            "main_business_format": "餐饮服务经营者（中央厨房、集体用餐配送单位）",  # 22
            "business_items": "热食类食品制售；冷食类食品制售；生食类食品制售；"
            "糕点类食品制售（含裱花蛋糕）；自制饮品制售（含自酿酒）",
            "supervising_authority": "广州市天河区市场监督管理局珠江新城市场监督管理所",
            "complaint_hotline": "020-12345",
        },
    )


def _medical() -> dict[str, Any]:
    return {
        "source_ref": "GZ-WJW-2026-LONG-MEDICAL-000001",
        "type_code": MEDICAL,
        "licence_number": "PDY12345644010617A1002",  # 登记号: 22 characters
        "holder": {
            "name": "广州市天河区珠江新城国际中西医结合医院有限公司",  # 23
            "id_type": "001",
            "id_number": "91440300MA5H7Q2X4M",
        },
        "valid_from": "2026-11-28",
        "data": {
            "institution_category": "中西医结合医院（互联网医院第二名称）",  # 18
            "principal": "迪丽娜尔·阿卜杜克热木·艾尼瓦尔",  # 16
            "legal_representative": "欧阳建国",
            "address": "广州市天河区珠江新城花城大道88号国际医疗中心1栋1-12层及负一层",
            "ownership": "私营（有限责任公司）",
            "clinical_departments": "内科；外科；妇产科；儿科；眼科；耳鼻咽喉科；口腔科；"
            "皮肤科；医学影像科；中医科；中西医结合科；医学检验科",
            "beds": "499",
        },
    }


def _construction() -> dict[str, Any]:
    return {
        "source_ref": "GD-ZJT-2026-LONG-SAFETY-000001",
        "type_code": CONSTRUCTION,
        "licence_number": "（粤）JZ安许证字〔2026〕012345延",  # 22
        "holder": {
            "name": "广东省珠海市横琴新区建筑工程集团股份有限公司",  # 22
            "id_type": "001",
            "id_number": "91440400MA4X9T6U1W",
        },
        "valid_from": "2026-11-28",
        "data": {
            "principal": "阿卜杜萨拉木·艾合麦提·托合提",  # 15
            "address": "珠海市横琴新区环岛东路3000号横琴国际商务中心2101-2120办公室",
            "economic_type": "股份有限公司（非上市、国有控股）",
            "licensed_scope": "建筑施工（含市政公用工程施工）",  # 15
        },
    }


def _marriage() -> dict[str, Any]:
    return {
        "source_ref": "TH-MZ-2026-LONG-MARRIAGE-000001",
        "type_code": MARRIAGE,
        "licence_number": "J440106-2026-012345",
        "holder": {
            "name": "古丽娜尔·阿卜杜克热木·艾尼瓦尔",  # 16
            "id_type": "111",
            "id_number": "650102198806061212",
        },
        "valid_from": "2026-11-28",
        "data": {
            "spouse_name": "玛丽亚·特蕾莎·冈萨雷斯·德拉罗萨",  # 17
            "spouse_id_number": "440106198503121237",
            "registration_date": "2026-11-28",
            "remarks": "双方自愿结婚，经审查符合《中华人民共和国民法典》关于结婚的规定，予以登记。",
        },
    }


def _birth() -> dict[str, Any]:
    return {
        "source_ref": "GZ-WJW-2026-LONG-BIRTH-000001",
        "type_code": BIRTH,
        "licence_number": "U440987654",  # 出生医学证明编号: a letter and nine digits
        "holder": {
            "name": "阿迪力·艾克拜尔江·买买提",  # 13
            "id_type": "111",
            "id_number": "440101202611150323",
        },
        "valid_from": "2026-11-28",
        "data": {
            "sex": "男",
            "birth_date": "2026-11-15",
            "birth_place": "广东省广州市天河区珠江新城花城大道88号国际医疗中心妇产科",
            "birth_institution": "广州市天河区珠江新城国际中西医结合医院有限公司",
            "mother_name": "迪丽娜尔·阿卜杜克热木·艾尼瓦尔",  # 16
            "father_name": "艾克拜尔江·买买提·吐尔逊",
        },
    }


LONG_REQUESTS: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    BUSINESS: (GZ_AMR, _business),
    FOOD: (GZ_AMR, _food),
    MEDICAL: (GZ_HEALTH, _medical),
    CONSTRUCTION: (GD_HOUSING, _construction),
    MARRIAGE: (TH_CIVIL, _marriage),
    BIRTH: (GZ_HEALTH, _birth),
}

# Measured with the seal format of today (docs/formats.md §2): these types need version 17-18 at
# M with the long values above. Version 16 at M holds 608 seal characters after the URL
# https://hall.example.gov.cn/v#, about 377 bytes of zlib'd COSE, and every Chinese character
# costs 3 of them. strict: once the seal (or the catalogue) is made to fit, these turn into
# failures so the marks get removed.


def _issue_long(service: Elicence, codes: Iterable[str] = LONG_REQUESTS) -> dict[str, Licence]:
    """One licence of each of ``codes``, each issued by a department allowed to issue it."""
    clients: dict[str, Client] = {}
    issued = {}
    for code in codes:
        department, build = LONG_REQUESTS[code]
        if department not in clients:
            record = service.add_client(
                name=f"dept {department}", role=Role.DEPARTMENT, department=department
            ).client
            clients[department] = Client(record.id, record.name, Role.DEPARTMENT, department)
        issued[code] = service.issue(clients[department], build()).licence
    return issued


def _qr_line(service: Elicence, lic: Licence) -> tuple[int, int, str]:
    """The licence's QR version (two segments), that of one byte-mode segment, and a report line."""
    qr = make_qr(service.public_base_url, lic.seal)
    assert qr.error == "M"
    url = verification_url(service.public_base_url, lic.seal)
    byte_only = segno.make_qr(url, error="m", mode="byte", boost_error=False).version
    name = service.catalogue().licence_types[lic.type_code].name_zh
    line = (
        f"{lic.type_code} {name}: QR version {qr.version} at M "
        f"(one byte-mode segment: {byte_only}), seal {len(lic.seal)} characters"
    )
    return qr.version, byte_only, line


def test_every_demo_licence_type_has_a_long_request(service: Elicence) -> None:
    assert set(LONG_REQUESTS) == set(service.catalogue().licence_types)


@pytest.mark.parametrize(
    "code",
    list(LONG_REQUESTS),
)
def test_qr_of_a_long_licence_fits_version_16_at_m(code: str, service: Elicence) -> None:
    lic = _issue_long(service, [code])[code]
    version, _, line = _qr_line(service, lic)
    print(f"\n{line}")
    assert version <= MAX_VERSION, line


def test_two_segments_beat_one_byte_mode_segment_for_every_type(service: Elicence) -> None:
    """Also prints every type's QR version in one table (run with ``-s``)."""
    rows = [_qr_line(service, lic) for lic in _issue_long(service).values()]
    table = "\n".join(["QR versions of long licences, by type:", *(f"  {r[2]}" for r in rows)])
    print(f"\n{table}")
    assert all(version < byte_only for version, byte_only, _ in rows), table


def test_make_qr_refuses_a_seal_above_the_limit(service: Elicence) -> None:
    lic = _issue_long(service)[BUSINESS]
    version = make_qr(service.public_base_url, lic.seal).version
    with pytest.raises(SealError, match="version"):
        make_qr(service.public_base_url, lic.seal, max_version=version - 1)


# -- the QR images of the API, decoded by zbarimg ------------------------------------------------


def _decode(zbarimg: str, png: Path) -> str:
    out = subprocess.run(
        [zbarimg, "--quiet", "--raw", "-Sbinary", str(png)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return out.stdout.decode("utf-8").removesuffix("\n")


def test_png_qr_of_every_type_decodes_to_the_verification_url_which_verifies(
    service: Elicence, api: TestClient, api_keys: ApiKeys, tmp_path: Path
) -> None:
    zbarimg = tool("zbarimg")
    for code, lic in _issue_long(service).items():
        r = api.get(f"/api/v1/licences/{lic.identifier}/qr.png", headers=api_keys.h("admin"))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png"
        assert r.content.startswith(b"\x89PNG\r\n\x1a\n")
        png = tmp_path / f"{code}.png"
        png.write_bytes(r.content)
        text = _decode(zbarimg, png)
        assert text == service.verification_url(lic.seal), code
        v = api.post("/api/v1/verify", json={"seal": text})
        assert v.status_code == 200, v.text
        assert v.json()["verdict"] == "valid", (code, v.json()["checks"])


def test_owner_department_gets_its_licence_qr_as_svg_and_png(
    api: TestClient, api_keys: ApiKeys
) -> None:
    issued = api.post("/api/v1/licences", json=food_permit(), headers=api_keys.h("gz_amr"))
    assert issued.status_code == 201, issued.text
    ident = issued.json()["identifier"]
    svg = api.get(f"/api/v1/licences/{ident}/qr.svg", headers=api_keys.h("gz_amr"))
    assert svg.status_code == 200, svg.text
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<svg")
    assert "<script" not in svg.text
    png = api.get(f"/api/v1/licences/{ident}/qr.png?scale=3", headers=api_keys.h("gz_amr"))
    assert png.status_code == 200
    big = api.get(f"/api/v1/licences/{ident}/qr.png?scale=6", headers=api_keys.h("gz_amr"))
    assert len(big.content) > len(png.content)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        pytest.param(None, 401, id="anonymous"),
        pytest.param("sz_amr", 404, id="another-department"),
        pytest.param("th_civil", 404, id="a-department-of-another-area"),
        pytest.param("hall", 403, id="hall"),
        pytest.param("admin", 200, id="admin"),
    ],
)
@pytest.mark.parametrize("kind", ["svg", "png"])
def test_qr_follows_the_access_rule_of_reading_a_licence(
    kind: str, who: str | None, status: int, api: TestClient, api_keys: ApiKeys
) -> None:
    issued = api.post("/api/v1/licences", json=food_permit(), headers=api_keys.h("gz_amr"))
    ident = issued.json()["identifier"]
    headers = api_keys.h(who) if who else {}
    r = api.get(f"/api/v1/licences/{ident}/qr.{kind}", headers=headers)
    assert r.status_code == status, r.text
    if status != 200:
        assert r.json()["error"]["code"]


@pytest.mark.parametrize(
    "identifier",
    [
        pytest.param("not-an-identifier", id="garbage"),
        pytest.param(
            "1.2.156.3005.2.11100000000013338W011.11440100MB2D00002M.CZEIAIUA858NEWGH.001.1",
            id="bad-check-character",
        ),
    ],
)
def test_qr_of_a_malformed_identifier_is_a_422(
    identifier: str, api: TestClient, api_keys: ApiKeys
) -> None:
    r = api.get(f"/api/v1/licences/{identifier}/qr.png", headers=api_keys.h("admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "identifier"


@pytest.mark.parametrize("scale", ["0", "41", "x"])
def test_qr_scale_out_of_range_is_a_422(scale: str, api: TestClient, api_keys: ApiKeys) -> None:
    issued = api.post("/api/v1/licences", json=food_permit(), headers=api_keys.h("gz_amr"))
    ident = issued.json()["identifier"]
    r = api.get(f"/api/v1/licences/{ident}/qr.png?scale={scale}", headers=api_keys.h("gz_amr"))
    assert r.status_code == 422, r.text
