"""POST /api/v1/licences: the answer, idempotency by source_ref, validity dates, the event log."""

from __future__ import annotations

from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.domain.codes import parse_identifier
from tests.conftest import FOOD, GZ_AMR, MARRIAGE, TH_CIVIL, ApiKeys, food_permit, marriage

URL = "/api/v1/licences"


def _events(service: Elicence) -> list:  # type: ignore[type-arg]
    return service.registry.events(limit=100_000)


def test_created_answer_carries_identifier_seal_url_status_version(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    r = api.post(URL, json=food_permit(), headers=api_keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    body = r.json()
    ident = parse_identifier(body["identifier"])
    assert ident.issuer_code == GZ_AMR
    assert ident.type_code == FOOD
    assert ident.version == 1
    assert body["seal"].startswith("EL1:")
    assert body["verification_url"] == f"https://hall.example.gov.cn/v#{body['seal']}"
    assert body["status"] == "valid"
    assert body["version"] == 1
    assert body["created"] is True
    assert body["department"] == GZ_AMR
    assert body["holder"]["id_number"] == "91350100M000100Y43"
    stored = service.registry.licence(body["identifier"])
    assert stored is not None
    assert stored.seal == body["seal"]
    assert stored.source_ref == "GZ-SCJ-2026-000123"


def test_same_body_again_answers_200_with_the_same_licence(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    first = api.post(URL, json=food_permit(), headers=api_keys.h("gz_amr"))
    again = api.post(URL, json=food_permit(), headers=api_keys.h("gz_amr"))
    assert first.status_code == 201
    assert again.status_code == 200, again.text
    assert again.json()["identifier"] == first.json()["identifier"]
    assert again.json()["seal"] == first.json()["seal"]
    assert again.json()["created"] is False
    assert service.registry.count_licences() == 1
    assert len(_events(service)) == 1


def test_same_body_with_cosmetic_differences_is_still_a_retry(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    """The request is compared after checking: an explicit computed valid_until is the same."""
    first = api.post(URL, json=food_permit(), headers=api_keys.h("gz_amr"))
    again = api.post(URL, json=food_permit(valid_until="2031-11-27"), headers=api_keys.h("gz_amr"))
    assert first.status_code == 201
    assert again.status_code == 200, again.text
    assert again.json()["identifier"] == first.json()["identifier"]
    assert service.registry.count_licences() == 1


def test_other_body_under_the_same_source_ref_is_a_409_conflict(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    first = api.post(URL, json=food_permit(), headers=api_keys.h("gz_amr"))
    assert first.status_code == 201
    other = food_permit(licence_number="JY14401060000999")
    r = api.post(URL, json=other, headers=api_keys.h("gz_amr"))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "source_ref_conflict"
    assert r.json()["error"]["field"] == "source_ref"
    assert first.json()["identifier"] in r.json()["error"]["message"]
    assert service.registry.count_licences() == 1
    assert len(_events(service)) == 1
    stored = service.registry.licence(first.json()["identifier"])
    assert stored is not None
    assert stored.licence_number == "JY14401060000123"


def test_source_ref_is_per_department(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    """Two departments may use the same source_ref: each names its own licence."""
    a = api.post(URL, json=food_permit("SHARED-1"), headers=api_keys.h("gz_amr"))
    b = api.post(URL, json=food_permit("SHARED-1"), headers=api_keys.h("sz_amr"))
    assert a.status_code == 201
    assert b.status_code == 201, b.text
    assert a.json()["identifier"] != b.json()["identifier"]
    assert service.registry.count_licences() == 2


def test_valid_until_is_computed_from_the_validity_rule_when_left_out(
    api: TestClient, api_keys: ApiKeys
) -> None:
    """Food permits are valid 5 years (5/Y): from 2026-11-28 the last day is 2031-11-27."""
    body = food_permit()
    del body["valid_until"]
    r = api.post(URL, json=body, headers=api_keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    assert r.json()["valid_from"] == "2026-11-28"
    assert r.json()["valid_until"] == "2031-11-27"

    r = api.post(
        URL, json=food_permit("NULL-UNTIL", valid_until=None), headers=api_keys.h("gz_amr")
    )
    assert r.status_code == 201, r.text
    assert r.json()["valid_until"] == "2031-11-27"


def test_valid_until_within_the_rule_is_kept(api: TestClient, api_keys: ApiKeys) -> None:
    r = api.post(URL, json=food_permit(valid_until="2028-06-30"), headers=api_keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    assert r.json()["valid_until"] == "2028-06-30"


def test_valid_until_above_the_rule_is_refused(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    r = api.post(URL, json=food_permit(valid_until="2031-11-28"), headers=api_keys.h("gz_amr"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert r.json()["error"]["field"] == "valid_until"
    assert "2031-11-27" in r.json()["error"]["message"]
    assert service.registry.count_licences() == 0
    assert _events(service) == []


def test_valid_until_before_valid_from_is_refused(api: TestClient, api_keys: ApiKeys) -> None:
    r = api.post(URL, json=food_permit(valid_until="2026-11-27"), headers=api_keys.h("gz_amr"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "valid_until"


def test_valid_until_for_a_long_term_type_is_refused(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    r = api.post(URL, json=marriage(valid_until="2036-11-27"), headers=api_keys.h("th_civil"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert r.json()["error"]["field"] == "valid_until"
    assert "0/L" in r.json()["error"]["message"]
    assert service.registry.count_licences() == 0


def test_long_term_type_has_no_valid_until(api: TestClient, api_keys: ApiKeys) -> None:
    r = api.post(URL, json=marriage(), headers=api_keys.h("th_civil"))
    assert r.status_code == 201, r.text
    assert r.json()["valid_until"] is None
    ident = parse_identifier(r.json()["identifier"])
    assert ident.issuer_code == TH_CIVIL
    assert ident.type_code == MARRIAGE


def test_one_issued_event_per_issuance(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    idents = []
    for n in range(3):
        r = api.post(URL, json=food_permit(f"EV-{n}"), headers=api_keys.h("gz_amr"))
        assert r.status_code == 201, r.text
        idents.append(r.json()["identifier"])
    # retries and refusals add nothing
    assert api.post(URL, json=food_permit("EV-0"), headers=api_keys.h("gz_amr")).status_code == 200
    bad = food_permit("EV-0", licence_number="OTHER")
    assert api.post(URL, json=bad, headers=api_keys.h("gz_amr")).status_code == 409

    events = _events(service)
    assert [e.identifier for e in events] == idents
    assert all(e.kind == "issued" for e in events)
    assert all(e.department == GZ_AMR for e in events)
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    gz_client = next(c for c in service.registry.clients() if c.department == GZ_AMR)
    assert {e.actor for e in events} == {gz_client.id}
    first = service.registry.licence(idents[0])
    assert first is not None
    assert events[0].detail == {  # the seal too: a mirror rebuilds the registry from the log
        "type_code": FOOD,
        "version": 1,
        "seal": first.seal,
        "valid_from": first.valid_from.isoformat(),
        "valid_until": first.valid_until.isoformat() if first.valid_until else None,
        "status_index": 0,
    }
    # each licence took the next status index; the retry and the refusal gave theirs back
    statuses = [service.registry.licence(i) for i in idents]
    assert [lic.status_index for lic in statuses if lic] == [0, 1, 2]
    assert service.registry.status_entries(GZ_AMR) == (3, [])
