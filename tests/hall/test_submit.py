"""Applying (办件申请): cited e-licences instead of paper originals, verified at submission;
uploads stored in the registry; every bad input a 4xx naming the field, with nothing written."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import zlib
from typing import Any

import cbor2
import pytest
from sqlalchemy import text

from elicence.domain.clients import Role
from elicence.domain.codes import LicenceIdentifier
from elicence.domain.grants import GranteeKind
from elicence.domain.licence import HolderRef
from elicence.formats.seal import CLAIM_LICENCE, K_HOLDER_NAME, PREFIX, cose_bytes
from elicence.hall.cases import UploadIn
from elicence.issuer.lifecycle import Action
from tests.conftest import FOOD, food_permit
from tests.hall.conftest import (
    BIRTH_REG,
    BUSINESS,
    ORG,
    PDF,
    PNG,
    RENEWAL,
    RESTAURANT,
    TH_AMR,
    World,
    business_licence,
)

LAYOUT = {"premises_layout": ("layout.pdf", PDF, "application/pdf")}


def tampered(seal: str) -> str:
    """The seal with another holder name in its payload, re-encoded but not re-signed."""
    message = cbor2.loads(cose_bytes(seal))
    protected, unprotected, payload, signature = message.value
    claims = cbor2.loads(payload)
    claims[CLAIM_LICENCE][K_HOLDER_NAME] = "某某冒名有限公司"
    forged = cbor2.CBORTag(message.tag, [protected, unprotected, cbor2.dumps(claims), signature])
    return PREFIX + base64.b32encode(zlib.compress(cbor2.dumps(forged), 9)).decode().rstrip("=")


def count(w: World, table: str) -> int:
    with w.svc.registry.engine.connect() as c:
        return int(c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def nothing_written(w: World) -> None:
    for table in ("hall_cases", "hall_uploads", "hall_blobs", "hall_case_events"):
        assert count(w, table) == 0, table


def usage_of(w: World, identifier: str) -> list[dict[str, Any]]:
    return w.svc.registry.usage(identifier=identifier)


def test_an_applicant_applies_citing_an_e_licence_not_the_paper(any_world: World) -> None:
    w = any_world
    r = w.submit("org", w.restaurant(), LAYOUT)
    assert r.status_code == 201, r.text
    case = r.json()
    number = case["number"]
    assert len(number) == 21 and number.startswith("440106261128")
    assert case["status"] == "submitted" and case["channel"] == "online"
    assert case["applicant"] == {
        "name": "广州市天河区某某餐饮管理有限公司",
        "id_type": "001",
        "id_number": ORG,
    }
    [cited] = case["citations"]
    assert cited["material"] == "business_licence" and cited["identifier"] == w.idents["biz"]
    assert cited["verdict"] == "valid" and cited["presented"] == "seal"
    [upload] = case["uploads"]
    assert upload["sha256"] == hashlib.sha256(PDF).hexdigest() and upload["size"] == len(PDF)
    # the check is a usage record (用证记录) naming the case
    [use] = usage_of(w, w.idents["biz"])
    assert use["case_number"] == number and use["verdict"] == "valid"
    assert use["client_id"] == w.client("org").id and use["channel"] == "seal"
    # the applicant and the handling clerk read it; the bytes come back as they went in
    got = w.api.get(f"/api/v1/cases/{number}", headers=w.h("org")).json()
    assert got["events"][0]["action"] == "submit" and got["item"]["code"] == RESTAURANT
    blob = w.api.get(f"/api/v1/cases/{number}/uploads/premises_layout", headers=w.h("th_amr"))
    assert blob.status_code == 200 and blob.content == PDF
    assert blob.headers["content-type"] == "application/pdf"
    assert blob.headers["x-content-sha256"] == upload["sha256"]


def test_an_identifier_stands_for_the_licence_as_well_as_its_seal(any_world: World) -> None:
    w = any_world
    body = w.restaurant()
    body["licences"] = [{"material": "business_licence", "identifier": w.idents["biz"]}]
    r = w.submit("org", body, LAYOUT)
    assert r.status_code == 201, r.text
    assert r.json()["citations"][0]["presented"] == "identifier"


def test_a_person_applies_as_json_citing_a_natural_persons_licence(any_world: World) -> None:
    """The seal of a natural person's licence masks the id: the check compares the registry's
    record, so the applicant's own marriage certificate is accepted."""
    w = any_world
    body = {
        "item_code": BIRTH_REG,
        "form": {"expected_date": "2027-03-01", "spouse_name": "王五"},
        "licences": [{"material": "marriage_certificate", "seal": w.seals["marriage"]}],
    }
    r = w.submit("person", body)
    assert r.status_code == 201, r.text
    assert r.json()["applicant"]["id_number"] == "11010519491231002X"


def test_a_hall_enters_a_window_application_for_an_applicant(any_world: World) -> None:
    w = any_world
    body = w.restaurant(
        applicant={"name": "广州市天河区某某餐饮管理有限公司", "id_type": "001", "id_number": ORG}
    )
    r = w.submit("hall", body, LAYOUT)
    assert r.status_code == 201, r.text
    assert r.json()["channel"] == "window"
    missing = w.submit("hall", w.restaurant(), LAYOUT)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "applicant.id_type"


def _revoke(w: World, action: Action) -> None:
    clerk = w.client("th_amr")
    w.svc.licences.change_status(clerk, w.idents["biz"], action, reason="测试")


def _supersede(w: World) -> None:
    w.svc.licences.amend(
        w.client("th_amr"),
        w.idents["biz"],
        {"data": {"address": "广州市天河区新地址"}},
        reason="变更住所",
    )


def _compromise(w: World) -> None:
    w.svc.keys.compromise(TH_AMR, since=w.svc.clock() - dt.timedelta(days=1))


REFUSED = [
    ("revoked", lambda w: _revoke(w, Action.REVOKE), None),
    ("suspended", lambda w: _revoke(w, Action.SUSPEND), None),
    ("superseded", _supersede, None),
    ("untrusted", _compromise, None),
    ("invalid", lambda w: None, lambda w: tampered(w.seals["biz"])),
]


@pytest.mark.parametrize(("verdict", "before", "seal"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_cited_licence_that_is_not_valid_is_refused_with_its_verdict(
    any_world: World, verdict: str, before: Any, seal: Any
) -> None:
    w = any_world
    before(w)
    r = w.submit("org", w.restaurant(seal=seal(w) if seal else None), LAYOUT)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == f"cited_licence_{verdict}" and err["field"] == "licences[0]"
    assert verdict in err["message"]
    nothing_written(w)
    uses = [u for u in usage_of(w, w.idents["biz"]) if u["verdict"] == verdict]
    assert len(uses) == 1 and uses[0]["case_number"] is None  # checked, and no case exists


def test_an_expired_licence_is_refused(any_world: World) -> None:
    w = any_world
    w.issue("old_food", TH_AMR, food_permit("T-FOOD-OLD", valid_from="2021-01-01"))
    body = {
        "item_code": RENEWAL,
        "form": dict(w.restaurant()["form"]),
        "licences": [
            {"material": "business_licence", "seal": w.seals["biz"]},
            {"material": "food_permit", "seal": w.seals["old_food"]},
        ],
    }
    r = w.submit("org", body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "cited_licence_expired"
    assert r.json()["error"]["field"] == "licences[1]"
    nothing_written(w)
    # both checks were made and recorded: the good one and the expired one
    assert {u["verdict"] for u in usage_of(w, w.idents["biz"])} == {"valid"}
    assert usage_of(w, w.idents["old_food"])[0]["verdict"] == "expired"


@pytest.mark.parametrize("by", ["seal", "identifier"])
def test_a_licence_not_yet_in_force_is_refused_naming_not_yet_valid(
    any_world: World, by: str
) -> None:
    """Issue 16: a genuine licence whose first day is ahead is refused as ``not_yet_valid``,
    not as ``invalid`` (the verdict of a forgery)."""
    w = any_world
    w.issue("new_food", TH_AMR, food_permit("T-FOOD-NEW", valid_from="2027-01-01"))
    cite = w.seals["new_food"] if by == "seal" else w.idents["new_food"]
    body = {
        "item_code": RENEWAL,
        "form": dict(w.restaurant()["form"]),
        "licences": [
            {"material": "business_licence", "seal": w.seals["biz"]},
            {"material": "food_permit", by: cite},
        ],
    }
    r = w.submit("org", body)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "cited_licence_not_yet_valid" and err["field"] == "licences[1]"
    assert "not_yet_valid" in err["message"] and "2027-01-01" in err["message"]
    nothing_written(w)
    assert usage_of(w, w.idents["new_food"])[0]["verdict"] == "not_yet_valid"


def test_an_identifier_the_registry_does_not_hold_is_refused(any_world: World) -> None:
    w = any_world
    body = w.restaurant()
    ghost = str(LicenceIdentifier(BUSINESS, TH_AMR, "ZZZZZZZZZZZZZZZZ", 1))
    body["licences"] = [{"material": "business_licence", "identifier": ghost}]
    r = w.submit("org", body, LAYOUT)
    assert r.status_code == 422 and r.json()["error"]["code"] == "cited_licence_not_found"
    nothing_written(w)


def test_another_holders_licence_is_refused_without_their_authorisation(any_world: World) -> None:
    w = any_world
    r = w.submit("org", w.restaurant(seal=w.seals["biz2"]), LAYOUT)
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == "cited_licence_not_authorised" and err["field"] == "licences[0]"
    nothing_written(w)
    assert usage_of(w, w.idents["biz2"])[0]["client_id"] == w.client("org").id


def test_a_grant_to_the_hall_lets_its_window_case_cite_another_holders_licence(
    any_world: World,
) -> None:
    """授权用证: the holder of biz2 grants its use to the hall; the hall's window application
    for another applicant may then cite it, and only while the grant is in force."""
    w = any_world
    body = w.restaurant(
        seal=w.seals["biz2"],
        applicant={"name": "广州市天河区某某餐饮管理有限公司", "id_type": "001", "id_number": ORG},
    )
    refused = w.submit("hall", body, LAYOUT)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "cited_licence_not_authorised"
    holder_of_biz2 = w.client("org2")
    grant = w.svc.holder.grant(
        holder_of_biz2,
        identifier=w.idents["biz2"],
        grantee_kind=GranteeKind.HALL,
        grantee=w.client("hall").id,
        purpose="开办餐馆：场所由我司提供",
        valid_until=w.svc.clock() + dt.timedelta(days=30),
    )
    r = w.submit("hall", body, LAYOUT)
    assert r.status_code == 201, r.text
    w.svc.holder.withdraw(holder_of_biz2, grant.id)
    again = w.submit("hall", body, LAYOUT)
    assert again.status_code == 403, again.text


def test_a_licence_of_another_type_does_not_stand_for_the_material(world: World) -> None:
    w = world
    r = w.submit("org", w.restaurant(seal=w.seals["food"]), LAYOUT)
    assert r.status_code == 422 and r.json()["error"]["code"] == "cited_licence_wrong_type"
    assert "营业执照" in r.json()["error"]["message"]
    nothing_written(w)


def _with(**over: Any) -> Any:
    def edit(w: World) -> dict[str, Any]:
        body = w.restaurant()
        for k, v in over.items():
            if v is None:
                body.pop(k)
            else:
                body[k] = v(w) if callable(v) else v
        return body

    return edit


def _form(**over: Any) -> Any:
    def edit(w: World) -> dict[str, Any]:
        body = w.restaurant()
        body["form"] = {**body["form"], **over}
        body["form"] = {k: v for k, v in body["form"].items() if v is not None}
        return body

    return edit


BAD = [
    # (id, body, files, status, code, field)
    ("unknown-item", _with(item_code="440106-SCJ-9999"), LAYOUT, 422, "unknown_item", "item_code"),
    ("no-item", _with(item_code=None), LAYOUT, 422, "invalid_input", "item_code"),
    ("missing-licence-material", _with(licences=[]), LAYOUT, 422, "invalid_input", "licences"),
    (
        "unknown-material",
        _with(licences=lambda w: [{"material": "id_card", "seal": w.seals["biz"]}]),
        LAYOUT,
        422,
        "invalid_input",
        "licences[0].material",
    ),
    (
        "upload-material-cited",
        _with(licences=lambda w: [{"material": "premises_layout", "seal": w.seals["biz"]}]),
        LAYOUT,
        422,
        "invalid_input",
        "licences[0].material",
    ),
    (
        "cited-twice",
        _with(licences=lambda w: [{"material": "business_licence", "seal": w.seals["biz"]}] * 2),
        LAYOUT,
        422,
        "invalid_input",
        "licences[1].material",
    ),
    (
        "seal-and-identifier",
        _with(
            licences=lambda w: [
                {
                    "material": "business_licence",
                    "seal": w.seals["biz"],
                    "identifier": w.idents["biz"],
                }
            ]
        ),
        LAYOUT,
        422,
        "invalid_input",
        "licences[0].seal",
    ),
    (
        "unreadable-seal",
        _with(licences=[{"material": "business_licence", "seal": "EL1:NOT-BASE32!"}]),
        LAYOUT,
        422,
        "cited_licence_invalid",
        "licences[0]",
    ),
    (
        "bad-identifier-check",
        _with(
            licences=lambda w: [
                {
                    "material": "business_licence",
                    "identifier": w.idents["biz"][:-1]
                    + ("0" if w.idents["biz"][-1] != "0" else "1"),
                }
            ]
        ),
        LAYOUT,
        422,
        "invalid_input",
        "licences[0].identifier",
    ),
    (
        "missing-upload",
        lambda w: w.restaurant(),
        None,
        422,
        "invalid_input",
        "uploads.premises_layout",
    ),
    (
        "paper-copy-of-a-licence",
        lambda w: w.restaurant(),
        {**LAYOUT, "business_licence": ("licence.pdf", PDF, "application/pdf")},
        422,
        "invalid_input",
        "uploads.business_licence",
    ),
    (
        "upload-over-limit",
        lambda w: w.restaurant(),
        {"premises_layout": ("big.pdf", PDF + b"0" * (2 * 1024 * 1024), "application/pdf")},
        413,
        "payload_too_large",
        "uploads.premises_layout",
    ),
    (
        "upload-type-not-allowed",
        lambda w: w.restaurant(),
        {**LAYOUT, "food_safety_rules": ("rules.png", PNG, "image/png")},
        422,
        "unsupported_upload_type",
        "uploads.food_safety_rules",
    ),
    (
        "upload-not-what-it-says",
        lambda w: w.restaurant(),
        {"premises_layout": ("layout.pdf", PNG, "application/pdf")},
        422,
        "unsupported_upload_type",
        "uploads.premises_layout",
    ),
    (
        "empty-upload",
        lambda w: w.restaurant(),
        {"premises_layout": ("layout.pdf", b"", "application/pdf")},
        422,
        "invalid_input",
        "uploads.premises_layout",
    ),
    (
        "unknown-upload",
        lambda w: w.restaurant(),
        {**LAYOUT, "photo": ("a.png", PNG, "image/png")},
        422,
        "invalid_input",
        "uploads.photo",
    ),
    (
        "missing-form-field",
        _form(business_items=None),
        LAYOUT,
        422,
        "invalid_input",
        "form.business_items",
    ),
    (
        "unknown-form-field",
        _form(favourite_dish="炒粉"),
        LAYOUT,
        422,
        "invalid_input",
        "form.favourite_dish",
    ),
    (
        "form-too-long",
        _form(legal_representative="张" * 21),
        LAYOUT,
        422,
        "invalid_input",
        "form.legal_representative",
    ),
    (
        "control-character",
        _form(residence="广州\x00"),
        LAYOUT,
        422,
        "invalid_input",
        "form.residence",
    ),
    ("extra-field", _with(fee=0), LAYOUT, 422, "invalid_input", "fee"),
    (
        "as-someone-else",
        _with(applicant={"id_type": "001", "id_number": "91440101MA59TK3R7Y"}),
        LAYOUT,
        403,
        "not_applicant",
        "applicant",
    ),
    (
        "bad-applicant-id",
        _with(applicant={"id_type": "001", "id_number": "91440101MA59TK3R7X"}),
        LAYOUT,
        422,
        "invalid_input",
        "applicant.id_number",
    ),
]


@pytest.mark.parametrize(
    ("body", "files", "status", "code", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_written(
    world: World, body: Any, files: Any, status: int, code: str, field: str
) -> None:
    w = world
    r = w.submit("org", body(w), files)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert (err["code"], err["field"]) == (code, field), err
    assert err["message"]
    nothing_written(w)


def test_bad_input_is_refused_on_postgresql_too(any_world: World) -> None:
    w = any_world
    r = w.submit(
        "org",
        w.restaurant(),
        {"premises_layout": ("big.pdf", PDF + b"0" * (2 * 1024 * 1024), "application/pdf")},
    )
    assert r.status_code == 413 and r.json()["error"]["field"] == "uploads.premises_layout"
    r = w.submit("org", _with(item_code="440106-SCJ-9999")(w), LAYOUT)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_item"
    nothing_written(w)


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [("admin", 403, "forbidden"), ("gz_amr", 403, "not_handling_department")],
    ids=["admin", "another-departments-clerk"],
)
def test_who_may_not_apply(world: World, who: str, status: int, code: str) -> None:
    body = world.restaurant(applicant={"name": "x", "id_type": "001", "id_number": ORG})
    r = world.submit(who, body, LAYOUT)
    assert r.status_code == status and r.json()["error"]["code"] == code
    nothing_written(world)


def test_a_person_may_not_apply_for_an_enterprise_item(world: World) -> None:
    r = world.submit("person", world.restaurant(), LAYOUT)
    assert r.status_code == 422 and r.json()["error"]["field"] == "applicant.id_type"
    nothing_written(world)


def test_a_form_the_licence_could_not_carry_is_refused_at_submission(world: World) -> None:
    """An issuing item's form values become the licence's data: what the issuer would refuse
    at approval is refused now, named as the form field."""
    w = world
    body = {
        "item_code": "440106-MZ-0001",
        "form": {
            "spouse_name": "王五",
            "spouse_id_number": "110105194912310021",
            "registration_date": "2026-11-28",
        },
    }
    r = w.submit("person", body)
    assert r.status_code == 422 and r.json()["error"]["field"] == "form.spouse_id_number"
    nothing_written(w)


@pytest.mark.parametrize(
    ("content", "content_type", "field"),
    [
        (b"{not json", "application/json", "application"),
        (b"item_code=x", "application/x-www-form-urlencoded", "application"),
        (b"[1, 2]", "application/json", None),
    ],
    ids=["not-json", "form-encoded", "not-an-object"],
)
def test_a_body_that_is_not_an_application(
    world: World, content: bytes, content_type: str, field: str | None
) -> None:
    headers = {**world.h("org"), "content-type": content_type}
    r = world.api.post("/api/v1/cases", content=content, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"].get("field") == field
    nothing_written(world)


def test_a_multipart_body_needs_its_application_part(world: World) -> None:
    r = world.api.post("/api/v1/cases", files=LAYOUT, headers=world.h("org"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "application"


def test_a_body_over_the_limit_is_not_read_to_its_end(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elicence.api.edge import Edge
    from elicence.api.routers import hall_cases

    monkeypatch.setattr(hall_cases.submit_case, "__elicence_edge__", Edge(4096))
    r = world.api.post(
        "/api/v1/cases",
        data={"application": json.dumps(world.restaurant())},
        files={"premises_layout": ("a.pdf", PDF + b"0" * 8192, "application/pdf")},
        headers=world.h("org"),
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    nothing_written(world)


def test_an_upload_name_is_for_display_only(world: World) -> None:
    w = world
    r = w.submit(
        "org",
        w.restaurant(),
        {"premises_layout": ("../../etc/pass:wd.pdf", PDF, "application/pdf")},
    )
    assert r.status_code == 201, r.text
    assert r.json()["uploads"][0]["filename"] == "pass_wd.pdf"


def test_unauthenticated_applications_are_refused(world: World) -> None:
    r = world.api.post("/api/v1/cases", json=world.restaurant())
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


def test_business_licence_fixture_is_valid(world: World) -> None:
    assert world.svc.verification.verify(seal=world.seals["biz"], client=None).verdict == "valid"
    assert business_licence("x")["type_code"] == BUSINESS


def test_the_applicant_is_named_as_itself_not_as_its_api_key(any_world: World) -> None:
    """An API key's name is its label (here an ERP link); the case, and the licence its
    approval issues, name the applicant as its licences in force do — or as the application
    or the holder's sign-in identity names it."""
    w = any_world
    w.add("erp", Role.HOLDER, holder=f"001:{ORG}", name="ERP 对接密钥")
    number = w.open_restaurant_case("erp")
    case = w.api.get(f"/api/v1/cases/{number}", headers=w.h("erp")).json()
    assert case["applicant"]["name"] == "广州市天河区某某餐饮管理有限公司"
    w.drive(number, "accept", "start-review", "approve")
    [lic] = [x for x in w.svc.registry.search(type_code=FOOD, limit=100) if x.source_ref == number]
    assert lic.holder.name == "广州市天河区某某餐饮管理有限公司"
    named = w.restaurant(applicant={"name": "某某餐饮（天河店）"})
    r = w.submit("erp", named, {"premises_layout": ("layout.pdf", PDF, "application/pdf")})
    assert r.status_code == 201 and r.json()["applicant"]["name"] == "某某餐饮（天河店）"
    web = w.svc.holder.principal(HolderRef.parse(f"001:{ORG}"), "广州某某餐饮")
    upload = UploadIn("premises_layout", "layout.pdf", "application/pdf", PDF)
    assert w.svc.hall.submit(web, w.restaurant(), [upload]).applicant.name == "广州某某餐饮"


def test_an_applicant_with_no_licence_in_force_gives_its_name(world: World) -> None:
    w = world
    w.add("newcomer", Role.HOLDER, holder="111:440106199001011235", name="某 App 的密钥")
    body: dict[str, Any] = {
        "item_code": "440100-WJ-0002",  # 出生医学证明: cites no licence
        "form": {"child_name": "王小明", "birth_date": "2026-11-20", "birth_institution": "某医院"},
    }
    record = {"birth_record": ("r.pdf", PDF, "application/pdf")}
    r = w.submit("newcomer", body, record)
    assert r.status_code == 422 and r.json()["error"]["field"] == "applicant.name", r.text
    nothing_written(w)
    body["applicant"] = {"name": "王五"}
    r = w.submit("newcomer", body, record)
    assert r.status_code == 201 and r.json()["applicant"]["name"] == "王五", r.text


def test_a_form_value_the_licence_font_cannot_print_is_refused_naming_the_form_field(
    world: World,
) -> None:
    w = world
    body = w.restaurant()
    body["form"]["legal_representative"] = "𠮷田"  # U+20BB7: not in the licence font
    r = w.submit("org", body, {"premises_layout": ("layout.pdf", PDF, "application/pdf")})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert (err["code"], err["field"]) == ("unprintable_character", "form.legal_representative")
    nothing_written(w)
