"""POST /api/v1/verify: by seal, QR URL or identifier; masking; tampering; refusals; usage records."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.domain.clients import Role
from elicence.domain.codes import LicenceIdentifier, parse_identifier
from tests.conftest import GZ_AMR, ApiKeys, Clock, food_permit, marriage

VERIFY = "/api/v1/verify"
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ORG_NAME = "广州市天河区某某餐饮管理有限公司"
ORG_ID = "91350100M000100Y43"


def _issue(api: TestClient, keys: ApiKeys, who: str, body: dict[str, object]) -> dict[str, Any]:
    r = api.post("/api/v1/licences", json=body, headers=keys.h(who))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _client_id(service: Elicence, role: Role, department: str | None = None) -> str:
    return next(
        c.id
        for c in service.registry.clients()
        if c.role == role and (department is None or c.department == department)
    )


def _appears(text: str, value: str) -> bool:
    """Whether ``value`` appears in a JSON body, raw or \\u-escaped."""
    return value in text or json.dumps(value)[1:-1] in text


@pytest.fixture
def food(api: TestClient, api_keys: ApiKeys) -> dict[str, Any]:
    return _issue(api, api_keys, "gz_amr", food_permit())


@pytest.fixture
def wedding(api: TestClient, api_keys: ApiKeys) -> dict[str, Any]:
    return _issue(api, api_keys, "th_civil", marriage())


@pytest.mark.parametrize("how", ["seal", "qr_url", "identifier"])
def test_a_genuine_licence_verifies_every_way(
    how: str, api: TestClient, api_keys: ApiKeys, food: dict[str, Any]
) -> None:
    body = {
        "seal": {"seal": food["seal"]},
        "qr_url": {"seal": food["verification_url"]},
        "identifier": {"identifier": food["identifier"]},
    }[how]
    r = api.post(VERIFY, json=body, headers=api_keys.h("hall"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["verdict"] == "valid"
    assert out["status_checked"] is True
    assert out["checks"]
    assert all(c["passed"] for c in out["checks"]), out["checks"]
    names = {c["name"] for c in out["checks"]}
    assert {"decode", "signature", "signer_known", "registry_record"} <= names
    lic = out["licence"]
    assert lic["identifier"] == food["identifier"]
    assert lic["issuer"] == GZ_AMR
    assert lic["issuer_name"] == "广州市市场监督管理局"
    assert lic["type_name"] == "食品经营许可证"
    assert lic["licence_number"] == "JY14401060000123"
    assert lic["valid_until"] == "2031-11-27"
    assert out["masked"] is True  # a hall sees it in full only under a grant (test_grants.py)


def test_anonymous_caller_sees_the_organisation_masked(
    api: TestClient, food: dict[str, Any]
) -> None:
    r = api.post(VERIFY, json={"seal": food["verification_url"]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["verdict"] == "valid"
    assert out["masked"] is True
    lic = out["licence"]
    assert lic["holder_name"] != ORG_NAME
    assert lic["holder_name"][0] == ORG_NAME[0]
    assert "*" in lic["holder_name"]
    assert lic["holder_id"] != ORG_ID
    assert lic["holder_id"].startswith(ORG_ID[:4])
    assert lic["holder_id"].endswith(ORG_ID[-4:])
    assert not _appears(r.text, ORG_NAME)
    assert not _appears(r.text, ORG_ID)


def test_anonymous_caller_sees_a_person_masked_and_the_issuing_department_unmasked(
    api: TestClient, api_keys: ApiKeys, wedding: dict[str, Any]
) -> None:
    anonymous = api.post(VERIFY, json={"identifier": wedding["identifier"]})
    assert anonymous.status_code == 200, anonymous.text
    out = anonymous.json()
    assert out["verdict"] == "valid"
    assert out["masked"] is True
    assert out["licence"]["holder_name"] == "李*"
    assert out["licence"]["data"]["spouse_name"] == "王*"
    for secret in ("李四", "王五", "11010519491231002X"):
        assert not _appears(anonymous.text, secret), secret

    owner = api.post(
        VERIFY, json={"identifier": wedding["identifier"]}, headers=api_keys.h("th_civil")
    )
    assert owner.status_code == 200, owner.text
    out = owner.json()
    assert out["verdict"] == "valid"
    assert out["masked"] is False
    assert out["licence"]["holder_name"] == "李四"
    assert out["licence"]["data"]["spouse_name"] == "王五"
    # a natural person's id number is masked in the seal itself, for everyone
    assert out["licence"]["holder_id"] == "1101**********002X"


def test_a_hall_without_a_grant_sees_the_organisation_masked_the_issuer_and_admin_in_full(
    api: TestClient, api_keys: ApiKeys, food: dict[str, Any]
) -> None:
    hall = api.post(VERIFY, json={"seal": food["seal"]}, headers=api_keys.h("hall"))
    assert hall.json()["masked"] is True
    assert not _appears(hall.text, ORG_NAME) and not _appears(hall.text, ORG_ID)
    other_department = api.post(VERIFY, json={"seal": food["seal"]}, headers=api_keys.h("sz_amr"))
    assert other_department.json()["masked"] is True
    assert (
        api.post(VERIFY, json={"seal": food["seal"]}, headers=api_keys.h("admin")).json()["masked"]
        is False
    )
    r = api.post(VERIFY, json={"seal": food["seal"]}, headers=api_keys.h("gz_amr"))
    lic = r.json()["licence"]
    assert r.json()["masked"] is False
    assert lic["holder_name"] == ORG_NAME
    assert lic["holder_id"] == ORG_ID
    assert lic["data"] == {}  # the food permit seals only its core metadata


def _tampered(seal: str, position: int) -> str:
    old = seal[position]
    new = BASE32[(BASE32.index(old) + 1) % len(BASE32)]
    return seal[:position] + new + seal[position + 1 :]


def test_a_seal_with_one_character_changed_in_the_middle_is_invalid(
    api: TestClient, food: dict[str, Any]
) -> None:
    seal = food["seal"]
    bad = _tampered(seal, len(seal) // 2)
    assert bad != seal
    r = api.post(VERIFY, json={"seal": bad})
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "invalid"
    assert not all(c["passed"] for c in r.json()["checks"])


def test_no_single_character_change_makes_a_seal_valid(
    api: TestClient, food: dict[str, Any]
) -> None:
    seal = food["seal"]
    body_start = len("EL1:")
    step = max(1, (len(seal) - body_start) // 40)
    for position in range(body_start, len(seal), step):
        r = api.post(VERIFY, json={"seal": _tampered(seal, position)})
        assert r.status_code < 500, (position, r.text)
        if r.status_code == 200:
            assert r.json()["verdict"] != "valid", position
        else:
            assert r.status_code == 422, (position, r.text)


def test_verify_status_follows_the_clock(api: TestClient, api_keys: ApiKeys, clock: Clock) -> None:
    issued = _issue(api, api_keys, "gz_amr", food_permit(valid_until="2026-12-31"))
    clock.advance(days=40)
    r = api.post(VERIFY, json={"seal": issued["seal"]})
    assert r.json()["verdict"] == "expired"


def test_unknown_identifier_with_a_good_check_char_is_not_found(
    api: TestClient, food: dict[str, Any]
) -> None:
    parsed = parse_identifier(food["identifier"])
    unknown = str(LicenceIdentifier(parsed.type_code, parsed.issuer_code, "Z" * 16, 1))
    parse_identifier(unknown)  # well-formed
    r = api.post(VERIFY, json={"identifier": unknown})
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "not_found"
    assert r.json()["licence"] is None


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        pytest.param(
            {"identifier": "1.2.156.3005.2.11100000000013338W011.11440100MB2D00002M.AB.001.0"},
            "identifier",
            "invalid_input",
            id="identifier-wrong-check-char",
        ),
        pytest.param(
            {"identifier": "2.16.840.1.113883"}, "identifier", "invalid_input", id="not-gbt36904"
        ),
        pytest.param({"identifier": 12345}, "identifier", "invalid_input", id="identifier-number"),
        pytest.param({"seal": "hello, licence"}, "seal", "bad_seal", id="not-el1"),
        pytest.param(
            {"seal": "https://hall.example.gov.cn/v#nothing"}, "seal", "bad_seal", id="url-no-el1"
        ),
        pytest.param(
            {"seal": "EL1:", "identifier": "1.2.156.3005.2.x"},
            "seal",
            "invalid_input",
            id="both-seal-and-identifier",
        ),
        pytest.param({}, "seal", "invalid_input", id="neither"),
        pytest.param({"seal": "EL1:AAAA", "pdf": "x"}, "pdf", "invalid_input", id="extra-field"),
    ],
)
def test_unprocessable_verification_requests_are_422(
    body: dict[str, object], field: str, code: str, api: TestClient, service: Elicence
) -> None:
    r = api.post(VERIFY, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["field"] == field


def test_malformed_identifier_in_a_valid_licence_shape(
    api: TestClient, food: dict[str, Any]
) -> None:
    ident = food["identifier"]
    wrong = ident[:-1] + ("A" if ident[-1] != "A" else "B")
    r = api.post(VERIFY, json={"identifier": wrong})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "identifier"
    assert "check character" in r.json()["error"]["message"]


def test_every_verification_writes_a_usage_record_with_the_client(
    api: TestClient, api_keys: ApiKeys, service: Elicence, food: dict[str, Any]
) -> None:
    assert service.registry.usage() == []
    parsed = parse_identifier(food["identifier"])
    unknown = str(LicenceIdentifier(parsed.type_code, parsed.issuer_code, "Z" * 16, 1))
    calls: list[tuple[dict[str, str], str | None, str, str | None, str]] = [
        # (body, who, channel, identifier recorded, verdict)
        ({"seal": food["seal"]}, None, "seal", food["identifier"], "valid"),
        ({"seal": food["verification_url"]}, "hall", "seal", food["identifier"], "valid"),
        ({"identifier": food["identifier"]}, "gz_amr", "identifier", food["identifier"], "valid"),
        ({"identifier": unknown}, None, "identifier", unknown, "not_found"),
        (
            {"seal": _tampered(food["seal"], len(food["seal"]) // 2)},
            "hall",
            "seal",
            None,
            "invalid",
        ),
    ]
    for body, who, _channel, _ident, verdict in calls:
        r = api.post(VERIFY, json=body, headers=api_keys.h(who) if who else {})
        assert r.status_code == 200, r.text
        assert r.json()["verdict"] == verdict

    expected_clients = {
        None: None,
        "hall": _client_id(service, Role.HALL),
        "gz_amr": _client_id(service, Role.DEPARTMENT, GZ_AMR),
    }
    usage = list(reversed(service.registry.usage()))  # newest first → in call order
    assert len(usage) == len(calls)
    for record, (_body, who, channel, ident, verdict) in zip(usage, calls, strict=True):
        assert record["client_id"] == expected_clients[who]
        assert record["channel"] == channel
        assert record["verdict"] == verdict
        if ident is not None:
            assert record["identifier"] == ident
    assert (
        service.registry.usage(identifier=food["identifier"], limit=10)[0]["client_id"]
        == (expected_clients["gz_amr"])
    )


def test_the_fast_answer_is_byte_for_byte_what_the_model_would_write(
    service: Elicence,
    food: dict[str, Any],
    wedding: dict[str, Any],
    api: TestClient,
    api_keys: ApiKeys,
    clock: Clock,
) -> None:
    """The verify route writes its answer with orjson (issue 20); the contract is the
    VerificationOut model's JSON: the same bytes for every kind of answer, masked or not."""
    from elicence.api.schemas import verification_json, verification_out

    parsed = parse_identifier(food["identifier"])
    unknown = str(LicenceIdentifier(parsed.type_code, parsed.issuer_code, "Z" * 16, 1))
    expiring = _issue(api, api_keys, "gz_amr", food_permit("EXPIRING-1", valid_until="2026-12-31"))
    api.post(
        f"/api/v1/licences/{wedding['identifier']}/revoke",
        json={"reason": "issued in error"},
        headers=api_keys.h("th_civil"),
    )
    asked = [
        {"seal": food["seal"]},
        {"seal": wedding["seal"]},  # a person: data items masked too; revoked
        {"identifier": unknown},  # not found: no licence
        {"seal": _tampered(food["seal"], len(food["seal"]) // 2)},  # invalid
        {"seal": expiring["seal"]},
    ]
    catalogue = service.catalogue()
    verdicts = set()
    for moment in range(2):
        for body in asked:
            report = service.verification.verify(**body, client=None)
            verdicts.add(str(report.verdict))
            if moment:  # a time with microseconds, as a real clock's
                report = dataclasses.replace(
                    report, checked_at=report.checked_at.replace(microsecond=120500)
                )
            for masked in (True, False):
                model = verification_out(report, catalogue=catalogue, masked=masked)
                fast = verification_json(report, catalogue=catalogue, masked=masked)
                assert fast == model.model_dump_json().encode(), (body, masked)
                assert json.loads(fast) == model.model_dump(mode="json")
        clock.advance(days=40)  # the expiring one expires
    assert {"valid", "revoked", "not_found", "invalid", "expired"} <= verdicts
