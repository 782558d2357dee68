"""The reproductions of issue 16, "bad input stored, then unreadable", on SQLite and PostgreSQL:
each hostile request is refused with 422 naming the field and the rule, stores nothing, and
every later read of the same resources answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from elicence.errors import Error
from tests.conftest import food_permit
from tests.hall.conftest import PDF, World
from tests.hostile.conftest import row_counts

SURROGATE_BODY = '{"reason":"r","changes":{"data":{"business_items":"\\ud800"}}}'


def _json_headers(world: World, who: str) -> dict[str, str]:
    return {**world.h(who), "content-type": "application/json"}


def _refused(r: Any, field: str, rule: str) -> None:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field
    assert rule in error["message"]


def test_an_amend_with_a_lone_surrogate_is_refused_and_stores_no_version(
    any_world: World,
) -> None:
    w = any_world
    ident = w.idents["food"]
    before = row_counts(w.svc)
    r = w.api.post(
        f"/api/v1/licences/{ident}/amend",
        content=SURROGATE_BODY,
        headers=_json_headers(w, "th_amr"),
    )
    _refused(r, "changes.data.business_items", "lone surrogate (U+D800)")
    assert row_counts(w.svc) == before
    # the reads that answered 500 after the version was stored
    assert w.api.get("/api/v1/licences", headers=w.h("th_amr")).status_code == 200
    search = w.api.get(
        "/api/v1/licences",
        params={"holder_id_type": "001", "holder_id": "91350100M000100Y43"},
        headers=w.h("th_amr"),
    )
    assert search.status_code == 200
    assert [lic["version"] for lic in search.json() if lic["identifier"] == ident] == [1]
    assert w.api.get(f"/api/v1/licences/{ident}", headers=w.h("th_amr")).status_code == 200
    assert w.svc.log.audit().ok


def test_a_visit_note_with_a_lone_surrogate_is_refused_and_the_case_stays_readable(
    any_world: World,
) -> None:
    w = any_world
    number = w.open_restaurant_case()
    before = row_counts(w.svc)
    r = w.api.post(
        f"/api/v1/cases/{number}/visits",
        content='{"note":"\\ud800"}',
        headers=_json_headers(w, "th_amr"),
    )
    _refused(r, "note", "lone surrogate")
    assert row_counts(w.svc) == before
    for who in ("th_amr", "org", "admin"):
        assert w.api.get(f"/api/v1/cases/{number}", headers=w.h(who)).status_code == 200


def test_text_arrives_in_nfc_whatever_form_it_was_sent_in(any_world: World) -> None:
    w = any_world
    number = w.open_restaurant_case()
    decomposed = "Cafe\u0301 第一次到场"  # é as e + COMBINING ACUTE ACCENT (NFD)
    r = w.api.post(
        f"/api/v1/cases/{number}/visits", json={"note": decomposed}, headers=w.h("th_amr")
    )
    assert r.status_code == 200, r.text
    case = w.api.get(f"/api/v1/cases/{number}", headers=w.h("admin")).json()
    notes = [e["detail"]["note"] for e in case["events"] if e["detail"].get("note")]
    assert notes == ["Caf\u00e9 第一次到场"]


def test_a_reason_may_keep_line_breaks_and_tabs(any_world: World) -> None:
    """Free text (a reason) may keep tab, LF and CR; a one-line field may not (BAD below)."""
    w = any_world
    ident = w.idents["food"]
    r = w.api.post(
        f"/api/v1/licences/{ident}/suspend",
        json={"reason": "经营者申请\r\n\t暂停营业"},
        headers=w.h("th_amr"),
    )
    assert r.status_code == 200, r.text
    assert w.api.get(f"/api/v1/licences/{ident}", headers=w.h("th_amr")).status_code == 200


@dataclass(frozen=True)
class Bad:
    id: str
    method: str
    path: str
    who: str
    field: str
    rule: str
    json: Any = None
    params: dict[str, str] | None = None
    data: dict[str, str] | None = None


BAD = [
    Bad(
        "issue-valid_from-9999-12-31",
        "POST",
        "/api/v1/licences",
        "th_amr",
        "valid_from",
        "between 1900-01-01 and 2999-12-31",
        json=food_permit("HOSTILE-1", valid_from="9999-12-31"),
    ),
    Bad(
        "issue-validity-rule-runs-past-the-calendar",
        "POST",
        "/api/v1/licences",
        "th_amr",
        "valid_from",
        "between 1900-01-01 and 2999-12-31",
        json=food_permit("HOSTILE-2", valid_from="2999-06-01"),
    ),
    Bad(
        "issue-nul-in-the-holder-name",
        "POST",
        "/api/v1/licences",
        "th_amr",
        "holder.name",
        "control character (U+0000)",
        json=food_permit(
            "HOSTILE-3",
            holder={"name": "某某\x00公司", "id_type": "001", "id_number": "91350100M000100Y43"},
        ),
    ),
    Bad(
        "issue-line-feed-in-a-one-line-field",
        "POST",
        "/api/v1/licences",
        "th_amr",
        "licence_number",
        "control character (U+000A)",
        json=food_permit("HOSTILE-4", licence_number="JY1\n4401"),
    ),
    Bad(
        "issue-integer-beyond-2-53",
        "POST",
        "/api/v1/licences",
        "th_amr",
        "data.business_items",
        "out of range",
        json=food_permit("HOSTILE-5", data={"business_items": 2**64}),
    ),
    Bad(
        "search-issued_until-9999-12-31",
        "GET",
        "/api/v1/licences",
        "th_amr",
        "issued_until",
        "between 1900-01-01 and 2999-12-31",
        params={"issued_until": "9999-12-31"},
    ),
    Bad(
        "search-issued_from-0001-01-01",
        "GET",
        "/api/v1/licences",
        "th_amr",
        "issued_from",
        "between 1900-01-01 and 2999-12-31",
        params={"issued_from": "0001-01-01"},
    ),
    Bad(
        "search-nul-in-a-query-value",
        "GET",
        "/api/v1/licences",
        "th_amr",
        "holder_id",
        "control character (U+0000)",
        params={"holder_id_type": "001", "holder_id": "9135\x000100M000100Y43"},
    ),
    Bad(
        "licence-nul-in-the-path",
        "GET",
        "/api/v1/licences/1.2.156%00",
        "th_amr",
        "identifier",
        "control character (U+0000)",
    ),
    Bad(
        "metrics-period-9999",
        "GET",
        "/api/v1/metrics",
        "admin",
        "period",
        "between 1900-01-01 and 2999-12-31",
        params={"period": "9999"},
    ),
    Bad(
        "metrics-period-0001-01",
        "GET",
        "/api/v1/metrics",
        "admin",
        "period",
        "between 1900-01-01 and 2999-12-31",
        params={"period": "0001-01"},
    ),
    Bad(
        "feed-after-2-31",
        "GET",
        "/api/v1/feed",
        "admin",
        "after",
        "less than or equal to 2147483647",
        params={"after": str(2**31)},
    ),
    Bad(
        "audit-trail-after-2-31",
        "GET",
        "/api/v1/audit-trail",
        "admin",
        "after",
        "less than or equal to 2147483647",
        params={"after": str(2**31)},
    ),
    Bad(
        "audit-trail-since-year-1",
        "GET",
        "/api/v1/audit-trail",
        "admin",
        "since",
        "between 1900-01-01 and 2999-12-31",
        params={"since": "0001-01-01T00:00:00+08:00"},
    ),
    Bad(
        "complaint-id-2-31",
        "POST",
        f"/api/v1/complaints/{2**31}/answer",
        "admin",
        "complaint_id",
        "less than or equal to 2147483647",
        json={"answer": "已核实", "substantiated": False},
    ),
    Bad(
        "verify-nul-in-the-seal",
        "POST",
        "/api/v1/verify",
        "hall",
        "seal",
        "control character (U+0000)",
        json={"seal": "EL1:\x00"},
    ),
    Bad(
        "progress-nested-too-deep",
        "POST",
        "/api/v1/progress",
        "org",
        "case_number" + ".a" * 32,
        "nested deeper than 32 levels",  # the body is built by _deep(32)
    ),
    Bad(
        "form-field-with-nul",
        "POST",
        "/demo-idp/token",
        "org",
        "grant_type",
        "control character (U+0000)",
        data={"grant_type": "authorization_code\x00"},
    ),
]


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"a": None}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_hostile_values_are_refused_naming_the_field_and_store_nothing(
    any_world: World, bad: Bad
) -> None:
    w = any_world
    body = bad.json
    if bad.id == "progress-nested-too-deep":
        body = {"case_number": _deep(32)}
    before = row_counts(w.svc)
    r = w.api.request(
        bad.method, bad.path, json=body, params=bad.params, data=bad.data, headers=w.h(bad.who)
    )
    _refused(r, bad.field, bad.rule)
    assert row_counts(w.svc) == before


def test_a_licence_whose_validity_would_run_past_the_bounds_is_not_issued(
    any_world: World,
) -> None:
    """A date the service computes (the validity rule's last day) is bounded too."""
    w = any_world
    before = row_counts(w.svc)
    r = w.api.post(
        "/api/v1/licences",
        json=food_permit("HOSTILE-RULE", valid_from="2996-01-01"),
        headers=w.h("th_amr"),
    )
    _refused(r, "valid_from", "between 1900-01-01 and 2999-12-31")
    assert row_counts(w.svc) == before


def test_behind_the_edge_the_registry_refuses_to_store_what_it_could_not_read_back(
    any_world: World,
) -> None:
    """The mechanism of the amend that stored version 002 and then answered 500: JSON columns
    wrote a lone surrogate as the escape ``\\ud800``, which both databases took, so the write
    succeeded and the failure came later, encoding the answer. Called behind the API's rule
    (the facade, as a future transport might), the write itself now fails and stores nothing."""
    w = any_world
    ident = w.idents["food"]
    before = row_counts(w.svc)
    with pytest.raises(Error):
        w.svc.licences.amend(
            w.client("th_amr"), ident, {"data": {"business_items": "\ud800"}}, reason="r"
        )
    assert row_counts(w.svc) == before
    assert w.api.get(f"/api/v1/licences/{ident}", headers=w.h("th_amr")).status_code == 200
    assert w.svc.log.audit().ok


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/v1/verify", b"[" * 5_000), ("/api/v1/licences", b'{"a":' * 5_000)],
    ids=["array", "object"],
)
def test_json_nested_past_the_parser_is_a_400_not_a_500(
    any_world: World, path: str, body: bytes
) -> None:
    r = any_world.api.post(path, content=body, headers=_json_headers(any_world, "th_amr"))
    assert r.status_code == 400, r.text
    assert "nested too deeply" in r.json()["error"]["message"]


def test_an_integer_of_thousands_of_digits_is_a_422_naming_its_field(any_world: World) -> None:
    """Python refuses to convert an integer literal of over 4,300 digits, and its message named
    its own internals (``sys.set_int_max_str_digits``) in a 400; the edge refuses such a literal
    as out of range, naming the field, as it does 2^64, and stores nothing."""
    before = row_counts(any_world.svc)
    body = b'{"source_ref": "HOSTILE-INT", "data": {"business_items": ' + b"9" * 5_000 + b"}}"
    r = any_world.api.post(
        "/api/v1/licences", content=body, headers=_json_headers(any_world, "th_amr")
    )
    _refused(r, "data.business_items", "out of range")
    assert "sys." not in r.text
    assert row_counts(any_world.svc) == before


def test_a_malformed_metrics_period_names_the_rule_in_words(any_world: World) -> None:
    """The period's pattern is documented in the API's schema, but a caller who breaks it reads
    the rule in words (a month, a quarter, a year or a range of days), not a regular expression."""
    for period in ("2026-13", "26-11", "2026-11-01..", "x" * 40):
        r = any_world.api.get("/api/v1/metrics", params={"period": period})
        assert r.status_code == 422, (period, r.text)
        error = r.json()["error"]
        assert error["field"] == "period"
        assert "\\d" not in error["message"] and "^(" not in error["message"], error["message"]
        words = ("YYYY-MM", "real dates", "at most 32")
        assert any(w in error["message"] for w in words), error["message"]


def test_a_multipart_application_is_checked_part_by_part(any_world: World) -> None:
    """The application's JSON part, a part's name and an upload's file name pass the rule."""
    w = any_world
    layout = ("layout.pdf", PDF, "application/pdf")
    before = row_counts(w.svc)
    application = json.dumps(w.restaurant(form={"residence": "天河路\ud800"}))
    r = w.api.post(
        "/api/v1/cases",
        data={"application": application},
        files={"premises_layout": layout},
        headers=w.h("org"),
    )
    _refused(r, "form.residence", "lone surrogate")
    r = w.submit(
        "org", w.restaurant(), {"premises_layout": ("lay\x1bout.pdf", PDF, "application/pdf")}
    )
    _refused(r, "uploads.premises_layout (file name)", "control character (U+001B)")
    assert row_counts(w.svc) == before
    r = w.submit(
        "org", w.restaurant(), {"premises_layout": ("Cafe\u0301.pdf", PDF, "application/pdf")}
    )
    assert r.status_code == 201, r.text
    assert [u["filename"] for u in r.json()["uploads"]] == ["Caf\u00e9.pdf"]
