"""Bad issuance requests: each is refused with the exact status, code and field, and writes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from tests.conftest import ApiKeys, food_permit, marriage

URL = "/api/v1/licences"
_RAW = object()  # marker: ``content`` is sent as raw bytes, not JSON


def _without_data_item(name: str) -> dict[str, object]:
    body = food_permit()
    data = dict(body["data"])  # type: ignore[call-overload]
    del data[name]
    body["data"] = data
    return body


def _with_data(**items: object) -> dict[str, object]:
    body = food_permit()
    body["data"] = {**body["data"], **items}  # type: ignore[dict-item]
    return body


def _with_holder(**fields: object) -> dict[str, object]:
    body = food_permit()
    body["holder"] = {**body["holder"], **fields}  # type: ignore[dict-item]
    return body


def _marriage_with_holder(**fields: object) -> dict[str, object]:
    body = marriage()
    body["holder"] = {**body["holder"], **fields}  # type: ignore[dict-item]
    return body


def _without(name: str) -> dict[str, object]:
    body = food_permit()
    del body[name]
    return body


@dataclass(frozen=True)
class Case:
    id: str
    body: Any
    status: int
    code: str
    field: str | None
    who: str | None = "gz_amr"  # an ApiKeys attribute, or None: no Authorization header
    headers: dict[str, str] | None = None  # instead of ``who``
    raw: bool = False  # send ``body`` as raw bytes


CASES = [
    Case(
        "uscc-wrong-check-char",
        _with_holder(id_number="91350100M000100Y44"),
        422,
        "invalid_input",
        "holder.id_number",
    ),
    Case(
        "uscc-forbidden-letter",
        _with_holder(id_number="91350100M000100I43"),
        422,
        "invalid_input",
        "holder.id_number",
    ),
    Case(
        "resident-id-wrong-check-char",
        _marriage_with_holder(id_number="110105194912310021"),
        422,
        "invalid_input",
        "holder.id_number",
        who="th_civil",
    ),
    Case(
        "resident-id-impossible-birth-date",
        _marriage_with_holder(id_number="110105194902300020"),
        422,
        "invalid_input",
        "holder.id_number",
        who="th_civil",
    ),
    Case(
        "spouse-id-wrong-check-char",
        marriage(
            data={
                "spouse_name": "王五",
                "spouse_id_number": "110105194912310021",
                "registration_date": "2026-11-28",
            }
        ),
        422,
        "invalid_input",
        "data.spouse_id_number",
        who="th_civil",
    ),
    Case(
        "unknown-licence-type",
        food_permit(type_code="11100000000013338W099"),
        422,
        "unknown_licence_type",
        "type_code",
    ),
    Case(
        "malformed-type-code",
        food_permit(type_code="FOOD"),
        422,
        "invalid_input",
        "type_code",
    ),
    Case(
        "type-not-permitted-for-department",
        marriage(),
        403,
        "type_not_permitted",
        "type_code",
        who="sz_amr",
    ),
    Case(
        "missing-required-data-item",
        _without_data_item("legal_representative"),
        422,
        "invalid_input",
        "data.legal_representative",
    ),
    Case(
        "blank-required-data-item",
        _with_data(legal_representative="   "),
        422,
        "invalid_input",
        "data.legal_representative",
    ),
    Case(
        "unknown-data-item",
        _with_data(favourite_colour="蓝色"),
        422,
        "invalid_input",
        "data.favourite_colour",
    ),
    Case(
        "overlong-data-item",
        _with_data(legal_representative="张" * 21),
        422,
        "invalid_input",
        "data.legal_representative",
    ),
    Case(
        "control-character-in-data-item",
        _with_data(legal_representative="张\x00三"),
        422,
        "invalid_input",
        "data.legal_representative",
    ),
    Case(
        "bad-valid-from-date",
        food_permit(valid_from="2026-13-01"),
        422,
        "invalid_input",
        "valid_from",
    ),
    Case(
        "valid-from-not-a-string",
        food_permit(valid_from=20261128),
        422,
        "invalid_input",
        "valid_from",
    ),
    Case(
        "bad-date-data-item",
        marriage(
            data={
                "spouse_name": "王五",
                "spouse_id_number": "11010519491231002X",
                "registration_date": "2026-02-30",
            }
        ),
        422,
        "invalid_input",
        "data.registration_date",
        who="th_civil",
    ),
    Case(
        "person-id-type-for-organisation-type",
        _with_holder(id_type="111", id_number="11010519491231002X"),
        422,
        "invalid_input",
        "holder.id_type",
    ),
    Case(
        "organisation-id-type-for-person-type",
        _marriage_with_holder(id_type="001", id_number="91350100M000100Y43"),
        422,
        "invalid_input",
        "holder.id_type",
        who="th_civil",
    ),
    Case(
        "unknown-id-type",
        _with_holder(id_type="123"),
        422,
        "invalid_input",
        "holder.id_type",
    ),
    Case("missing-holder", _without("holder"), 422, "invalid_input", "holder"),
    Case("missing-source-ref", _without("source_ref"), 422, "invalid_input", "source_ref"),
    Case(
        "source-ref-with-spaces",
        food_permit(source_ref="GZ SCJ 1"),
        422,
        "invalid_input",
        "source_ref",
    ),
    Case(
        "unknown-top-level-field",
        food_permit(colour="blue"),
        422,
        "invalid_input",
        "colour",
    ),
    Case(
        "unknown-holder-field",
        _with_holder(age=3),
        422,
        "invalid_input",
        "holder.age",
    ),
    Case(
        "non-json-body",
        b'{"source_ref": "GZ-1", ',
        400,
        "invalid_json",
        None,
        raw=True,
    ),
    Case("body-is-a-list", [food_permit()], 422, "invalid_input", None),
    Case("body-is-a-string", "a licence please", 422, "invalid_input", None),
    Case("missing-authorization", food_permit(), 401, "unauthenticated", "Authorization", who=None),
    Case(
        "unknown-api-key",
        food_permit(),
        401,
        "unauthenticated",
        "Authorization",
        headers={"Authorization": "Bearer elk_not-a-key-of-ours"},
    ),
    Case(
        "basic-instead-of-bearer",
        food_permit(),
        401,
        "unauthenticated",
        "Authorization",
        headers={"Authorization": "Basic Z3o6c2VjcmV0"},
    ),
    Case(
        "bad-body-and-no-key-is-401-first",
        [1, 2, 3],
        401,
        "unauthenticated",
        "Authorization",
        who=None,
    ),
    Case("hall-key-issuing", food_permit(), 403, "forbidden", None, who="hall"),
    Case("admin-key-issuing", food_permit(), 403, "forbidden", None, who="admin"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_issuance_request_is_refused_and_writes_nothing(
    case: Case, api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    licences_before = service.registry.count_licences()
    events_before = len(service.registry.events(limit=100_000))

    headers = dict(case.headers or (api_keys.h(case.who) if case.who else {}))
    if case.raw:
        headers["Content-Type"] = "application/json"
        r = api.post(URL, content=case.body, headers=headers)
    else:
        r = api.post(
            URL,
            content=json.dumps(case.body),
            headers=headers | {"Content-Type": "application/json"},
        )

    assert r.status_code < 500, r.text
    assert r.status_code == case.status, r.text
    error = r.json()["error"]
    assert error["code"] == case.code, r.text
    assert error.get("field") == case.field, r.text
    assert isinstance(error["message"], str)
    assert error["message"]
    if case.status == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"
    assert service.registry.count_licences() == licences_before == 0
    assert len(service.registry.events(limit=100_000)) == events_before == 0


def test_the_good_bodies_the_table_starts_from_are_accepted(
    api: TestClient, api_keys: ApiKeys
) -> None:
    """Each bad case changes one thing in a body that is otherwise good."""
    assert api.post(URL, json=food_permit(), headers=api_keys.h("gz_amr")).status_code == 201
    assert api.post(URL, json=marriage(), headers=api_keys.h("th_civil")).status_code == 201
