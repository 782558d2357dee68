"""Reading licences (who may see what), search, the catalogue, the trust list and the OpenAPI."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.domain.codes import LicenceIdentifier, parse_identifier
from elicence.errors import TrustListError
from elicence.formats.trustlist import verify_trust_list
from tests.conftest import (
    FOOD,
    GZ_AMR,
    MARRIAGE,
    SZ_AMR,
    TH_CIVIL,
    ApiKeys,
    Clock,
    food_permit,
    marriage,
)

LICENCES = "/api/v1/licences"
ORG_X = "91350100M000100Y43"  # the holder of food_permit()
ORG_Y = "91440101MA59TK3R7Y"


def _issue(api: TestClient, keys: ApiKeys, who: str, body: dict[str, object]) -> str:
    r = api.post(LICENCES, json=body, headers=keys.h(who))
    assert r.status_code == 201, r.text
    ident: str = r.json()["identifier"]
    return ident


def _holder(uscc: str) -> dict[str, str]:
    return {"name": "深圳市某某科技有限公司", "id_type": "001", "id_number": uscc}


# -- GET /licences/{identifier} -------------------------------------------------------------


def test_owner_department_and_admin_read_a_licence(api: TestClient, api_keys: ApiKeys) -> None:
    ident = _issue(api, api_keys, "gz_amr", food_permit())
    for who in ("gz_amr", "admin"):
        r = api.get(f"{LICENCES}/{ident}", headers=api_keys.h(who))
        assert r.status_code == 200, (who, r.text)
        body = r.json()
        assert body["identifier"] == ident
        assert body["department"] == GZ_AMR
        assert body["type_code"] == FOOD
        assert body["type_name"] == "食品经营许可证"
        assert body["status"] == "valid"
        assert body["version"] == 1
        assert body["seal"].startswith("EL1:")
        assert body["verification_url"].endswith(body["seal"])
        assert body["holder"] == {
            "name": "广州市天河区某某餐饮管理有限公司",
            "id_type": "001",
            "id_number": ORG_X,
        }
        assert body["data"]["legal_representative"] == "张三"
        assert body["valid_until"] == "2031-11-27"


def test_status_turns_expired_after_the_last_day(
    api: TestClient, api_keys: ApiKeys, clock: Clock
) -> None:
    ident = _issue(api, api_keys, "gz_amr", food_permit(valid_until="2026-12-31"))
    clock.advance(days=40)
    r = api.get(f"{LICENCES}/{ident}", headers=api_keys.h("gz_amr"))
    assert r.json()["status"] == "expired"


def test_other_department_gets_404_and_hall_403(api: TestClient, api_keys: ApiKeys) -> None:
    ident = _issue(api, api_keys, "gz_amr", food_permit())
    r = api.get(f"{LICENCES}/{ident}", headers=api_keys.h("sz_amr"))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"
    assert r.json()["error"]["field"] == "identifier"
    # the 404 of "not yours" says no more than the 404 of "no such licence"
    parsed = parse_identifier(ident)
    unknown = str(LicenceIdentifier(parsed.type_code, parsed.issuer_code, "0" * 16, 1))
    r_unknown = api.get(f"{LICENCES}/{unknown}", headers=api_keys.h("sz_amr"))
    assert r_unknown.status_code == 404
    assert r.text.replace(ident, "ID") == r_unknown.text.replace(unknown, "ID")

    r = api.get(f"{LICENCES}/{ident}", headers=api_keys.h("hall"))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"

    r = api.get(f"{LICENCES}/{ident}")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"


def test_unknown_and_malformed_identifiers(api: TestClient, api_keys: ApiKeys) -> None:
    ident = _issue(api, api_keys, "gz_amr", food_permit())
    parsed = parse_identifier(ident)
    unknown = str(LicenceIdentifier(parsed.type_code, parsed.issuer_code, "0" * 16, 1))
    r = api.get(f"{LICENCES}/{unknown}", headers=api_keys.h("admin"))
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "identifier"

    wrong_check = ident[:-1] + ("0" if ident[-1] != "0" else "1")
    r = api.get(f"{LICENCES}/{wrong_check}", headers=api_keys.h("gz_amr"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert r.json()["error"]["field"] == "identifier"

    r = api.get(f"{LICENCES}/not-an-identifier", headers=api_keys.h("gz_amr"))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "identifier"


# -- search ---------------------------------------------------------------------------------


@pytest.fixture
def issued(api: TestClient, api_keys: ApiKeys, clock: Clock) -> dict[str, str]:
    """Licences of three departments, issued on different days (Beijing time)."""
    out = {
        # 2026-11-28 10:00 Beijing
        "gz_x": _issue(api, api_keys, "gz_amr", food_permit("GZ-1")),
        "gz_y": _issue(
            api,
            api_keys,
            "gz_amr",
            food_permit("GZ-2", holder=_holder(ORG_Y), licence_number="JY2"),
        ),
    }
    clock.advance(hours=15)  # 2026-11-28T17:00Z = 2026-11-29 01:00 Beijing
    out["sz_x"] = _issue(api, api_keys, "sz_amr", food_permit("SZ-1", licence_number="JY3"))
    clock.advance(days=3)  # 2026-12-02 Beijing
    out["gz_x_late"] = _issue(
        api, api_keys, "gz_amr", food_permit("GZ-3", licence_number="JY4", valid_from="2026-12-02")
    )
    out["th"] = _issue(api, api_keys, "th_civil", marriage())
    return out


def _search(api: TestClient, keys: ApiKeys, who: str, **params: str) -> list[str]:
    r = api.get(LICENCES, params=params, headers=keys.h(who))
    assert r.status_code == 200, r.text
    return [x["identifier"] for x in r.json()]


def test_search_by_holder(api: TestClient, api_keys: ApiKeys, issued: dict[str, str]) -> None:
    by_x = {"holder_id_type": "001", "holder_id": ORG_X}
    assert _search(api, api_keys, "gz_amr", **by_x) == [issued["gz_x"], issued["gz_x_late"]]
    assert _search(api, api_keys, "sz_amr", **by_x) == [issued["sz_x"]]
    assert _search(api, api_keys, "admin", **by_x) == [
        issued["gz_x"],
        issued["sz_x"],
        issued["gz_x_late"],
    ]
    # holder ids are normalised like at issuance (case, spaces)
    lower = {"holder_id_type": "001", "holder_id": f" {ORG_Y.lower()} "}
    assert _search(api, api_keys, "gz_amr", **lower) == [issued["gz_y"]]
    person = {"holder_id_type": "111", "holder_id": "11010519491231002X"}
    assert _search(api, api_keys, "th_civil", **person) == [issued["th"]]
    assert _search(api, api_keys, "gz_amr", **person) == []


def test_search_by_type_code(api: TestClient, api_keys: ApiKeys, issued: dict[str, str]) -> None:
    assert _search(api, api_keys, "admin", type_code=FOOD) == [
        issued["gz_x"],
        issued["gz_y"],
        issued["sz_x"],
        issued["gz_x_late"],
    ]
    assert _search(api, api_keys, "admin", type_code=MARRIAGE) == [issued["th"]]
    assert _search(api, api_keys, "th_civil", type_code=FOOD) == []


def test_search_by_department(api: TestClient, api_keys: ApiKeys, issued: dict[str, str]) -> None:
    assert _search(api, api_keys, "admin", department=SZ_AMR) == [issued["sz_x"]]
    assert _search(api, api_keys, "admin", department=TH_CIVIL) == [issued["th"]]
    assert _search(api, api_keys, "gz_amr", department=GZ_AMR) == [
        issued["gz_x"],
        issued["gz_y"],
        issued["gz_x_late"],
    ]
    # a department asking for another department's licences gets none of them (nor its own)
    assert _search(api, api_keys, "gz_amr", department=SZ_AMR) == []


def test_search_by_issue_date_range_in_beijing_days(
    api: TestClient, api_keys: ApiKeys, issued: dict[str, str]
) -> None:
    day = {"issued_from": "2026-11-28", "issued_until": "2026-11-28"}
    assert _search(api, api_keys, "admin", **day) == [issued["gz_x"], issued["gz_y"]]
    # 17:00 UTC on the 28th is already the 29th in Beijing
    day = {"issued_from": "2026-11-29", "issued_until": "2026-11-29"}
    assert _search(api, api_keys, "admin", **day) == [issued["sz_x"]]
    assert _search(api, api_keys, "admin", issued_from="2026-11-30") == [
        issued["gz_x_late"],
        issued["th"],
    ]
    assert _search(api, api_keys, "admin", issued_until="2026-11-29") == [
        issued["gz_x"],
        issued["gz_y"],
        issued["sz_x"],
    ]
    assert _search(api, api_keys, "gz_amr", issued_from="2026-11-29") == [issued["gz_x_late"]]
    r = api.get(LICENCES, params={"issued_from": "2026-02-30"}, headers=api_keys.h("admin"))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "issued_from"


def test_search_limit_and_offset(
    api: TestClient, api_keys: ApiKeys, issued: dict[str, str]
) -> None:
    everything = _search(api, api_keys, "admin")
    assert len(everything) == 5
    assert _search(api, api_keys, "admin", limit="2") == everything[:2]
    assert _search(api, api_keys, "admin", limit="2", offset="2") == everything[2:4]
    r = api.get(LICENCES, params={"limit": "1001"}, headers=api_keys.h("admin"))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "limit"


def test_a_department_search_only_ever_returns_its_own(
    api: TestClient, api_keys: ApiKeys, issued: dict[str, str]
) -> None:
    queries: list[dict[str, str]] = [
        {},
        {"type_code": FOOD},
        {"type_code": MARRIAGE},
        {"holder_id_type": "001", "holder_id": ORG_X},
        {"holder_id_type": "111", "holder_id": "11010519491231002X"},
        {"department": GZ_AMR},
        {"department": SZ_AMR},
        {"department": TH_CIVIL},
        {"issued_from": "2026-01-01", "issued_until": "2027-01-01"},
    ]
    for who, dept in (("gz_amr", GZ_AMR), ("sz_amr", SZ_AMR), ("th_civil", TH_CIVIL)):
        seen: set[str] = set()
        for q in queries:
            r = api.get(LICENCES, params=q, headers=api_keys.h(who))
            assert r.status_code == 200, (who, q, r.text)
            for lic in r.json():
                assert lic["department"] == dept, (who, q, lic["identifier"])
                seen.add(lic["identifier"])
        assert seen, who  # every department does see its own


def test_search_refusals(api: TestClient, api_keys: ApiKeys) -> None:
    cases = [
        ("hall", {}, 403, "forbidden", None),
        (None, {}, 401, "unauthenticated", "Authorization"),
        ("admin", {"holder_id": ORG_X}, 422, "invalid_input", "holder_id"),
        ("admin", {"holder_id_type": "001"}, 422, "invalid_input", "holder_id"),
        (
            "admin",
            {"holder_id_type": "777", "holder_id": "X"},
            422,
            "invalid_input",
            "holder_id_type",
        ),
        ("admin", {"type_code": "FOOD"}, 422, "invalid_input", "type_code"),
        ("admin", {"department": "11440100MB2D00002X"}, 422, "invalid_input", "department"),
    ]
    for who, params, status, code, field in cases:
        r = api.get(LICENCES, params=params, headers=api_keys.h(who) if who else {})
        assert r.status_code == status, (who, params, r.text)
        assert r.json()["error"]["code"] == code, (who, params, r.text)
        assert r.json()["error"].get("field") == field, (who, params, r.text)


# -- catalogue ------------------------------------------------------------------------------


def test_catalogue_licence_types(api: TestClient) -> None:
    r = api.get("/api/v1/catalogue/licence-types")
    assert r.status_code == 200
    types = {t["code"]: t for t in r.json()}
    assert FOOD in types
    assert MARRIAGE in types
    assert len(types) == 6
    food = types[FOOD]
    assert food["name_zh"] == "食品经营许可证"
    assert food["validity"] == "5/Y"
    assert food["holder_category"] == "organisation"
    assert "legal_representative" in {i["name"] for i in food["data_items"]}

    one = api.get(f"/api/v1/catalogue/licence-types/{FOOD}")
    assert one.status_code == 200
    assert one.json() == food


def test_catalogue_unknown_and_malformed_codes(api: TestClient) -> None:
    r = api.get("/api/v1/catalogue/licence-types/11100000000013338W099")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert r.json()["error"]["field"] == "code"
    for bad in ("FOOD", "11100000000013338X011", "11100000000013338W01A"):
        r = api.get(f"/api/v1/catalogue/licence-types/{bad}")
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
        assert r.json()["error"]["field"] == "code"


def test_catalogue_departments(api: TestClient) -> None:
    r = api.get("/api/v1/catalogue/departments")
    assert r.status_code == 200
    depts = {d["uscc"]: d for d in r.json()}
    assert depts[GZ_AMR]["name_zh"] == "广州市市场监督管理局"
    assert set(depts[GZ_AMR]["licence_types"]) == {FOOD, "11100000000013338W001"}
    assert depts[TH_CIVIL]["licence_types"] == [MARRIAGE]


# -- trust list -----------------------------------------------------------------------------


def test_trust_list_verifies_against_the_root(api: TestClient, service: Elicence) -> None:
    r = api.get("/api/v1/trust-list")
    assert r.status_code == 200
    body = r.json()
    assert body["format"] == "EL-TL1"
    root = x509.load_pem_x509_certificate(api.get("/api/v1/root.crt").content)
    signed = base64.b64decode(body["signed"])
    tl = verify_trust_list(signed, root=root)
    assert tl.root == root
    der = root.public_bytes(serialization.Encoding.DER)
    assert base64.b64decode(body["root_certificate"]) == der
    # the JSON view says what the signed list says
    assert {e.kid.hex() for e in tl.entries} == {e["kid"] for e in body["entries"]}
    assert {e.department for e in tl.entries} >= {GZ_AMR, SZ_AMR, TH_CIVIL}
    gz = next(e for e in tl.entries if e.department == GZ_AMR)
    assert gz.status == "active"
    assert FOOD in gz.licence_types
    assert dt.datetime.fromisoformat(body["next_update"]) > dt.datetime.fromisoformat(
        body["issued_at"]
    )
    # the raw COSE form is the same bytes
    assert api.get("/api/v1/trust-list.cose").content == signed


def test_a_tampered_trust_list_does_not_verify(api: TestClient) -> None:
    root = x509.load_pem_x509_certificate(api.get("/api/v1/root.crt").content)
    signed = bytearray(base64.b64decode(api.get("/api/v1/trust-list").json()["signed"]))
    signed[len(signed) // 2] ^= 0x01
    with pytest.raises(TrustListError):
        verify_trust_list(bytes(signed), root=root)


# -- OpenAPI --------------------------------------------------------------------------------

CONTRACT = {
    ("post", "/api/v1/licences"),
    ("get", "/api/v1/licences"),
    ("post", "/api/v1/licences/batch"),
    ("get", "/api/v1/licences/{identifier}"),
    ("post", "/api/v1/verify"),
    ("get", "/api/v1/trust-list"),
    ("get", "/api/v1/catalogue/licence-types"),
    ("get", "/api/v1/catalogue/licence-types/{code}"),
    ("get", "/api/v1/catalogue/departments"),
}


def test_docs_and_openapi_are_served_with_every_contract_path(api: TestClient) -> None:
    docs = api.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    r = api.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    offered = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    missing = CONTRACT - offered
    assert not missing, f"contract paths missing from OpenAPI: {sorted(missing)}"
    # the issuance request documents the contract's fields
    schemas = spec["components"]["schemas"]
    assert set(schemas["IssuanceIn"]["properties"]) == {
        "source_ref",
        "type_code",
        "licence_number",
        "holder",
        "valid_from",
        "valid_until",
        "data",
    }
