"""POST /api/v1/licences/batch: per-item results, idempotent retries, the 1,000-item limit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.domain.codes import parse_identifier
from tests.conftest import GZ_AMR, ApiKeys, food_permit, marriage

URL = "/api/v1/licences/batch"


def _bad_uscc(source_ref: str) -> dict[str, object]:
    body = food_permit(source_ref)
    body["holder"] = {**body["holder"], "id_number": "91350100M000100Y44"}  # type: ignore[dict-item]
    return body


def _mixed() -> list[dict[str, object]]:
    return [
        food_permit("B-1"),  # 0 created
        _bad_uscc("B-BAD"),  # 1 error 422
        food_permit("B-2", licence_number="JY14401060000200"),  # 2 created
        food_permit("B-1"),  # 3 same source_ref, same body as 0: existing
        food_permit("B-2", licence_number="JY14401060000999"),  # 4 other body under B-2: 409
        marriage("B-3"),  # 5 a type this department may not issue: 403
    ]


def _counts(service: Elicence) -> tuple[int, int]:
    return service.registry.count_licences(), len(service.registry.events(limit=100_000))


def test_mixed_batch_gives_a_result_per_item_and_stores_the_valid_ones(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    r = api.post(URL, json={"items": _mixed()}, headers=api_keys.h("gz_amr"))
    assert r.status_code == 200, r.text
    body = r.json()
    results = body["results"]
    assert [x["index"] for x in results] == [0, 1, 2, 3, 4, 5]
    assert [x["outcome"] for x in results] == [
        "created",
        "error",
        "created",
        "existing",
        "error",
        "error",
    ]
    assert (body["created"], body["existing"], body["failed"]) == (2, 1, 3)

    created = [results[0], results[2]]
    for item in created:
        assert parse_identifier(item["identifier"]).issuer_code == GZ_AMR
        assert item["seal"].startswith("EL1:")
        assert item["verification_url"].endswith("#" + item["seal"])
        assert item["status"] == "valid"
        assert item["version"] == 1
        assert item["error"] is None
    assert results[0]["identifier"] != results[2]["identifier"]
    # the in-batch twin of item 0 answers item 0's licence
    assert results[3]["identifier"] == results[0]["identifier"]
    assert results[3]["seal"] == results[0]["seal"]

    assert results[1]["error"]["status"] == 422
    assert results[1]["error"]["code"] == "invalid_input"
    assert results[1]["error"]["field"] == "holder.id_number"
    assert results[4]["error"]["status"] == 409
    assert results[4]["error"]["code"] == "source_ref_conflict"
    assert results[4]["error"]["field"] == "source_ref"
    assert results[5]["error"]["status"] == 403
    assert results[5]["error"]["code"] == "type_not_permitted"
    assert results[5]["error"]["field"] == "type_code"
    for failed in (results[1], results[4], results[5]):
        assert failed["identifier"] is None
        assert failed["seal"] is None

    assert _counts(service) == (2, 2)
    for item in created:
        stored = service.registry.licence(item["identifier"])
        assert stored is not None
        assert stored.seal == item["seal"]
    b2 = service.registry.licence(results[2]["identifier"])
    assert b2 is not None
    assert b2.licence_number == "JY14401060000200"  # the conflicting body did not overwrite it
    events = service.registry.events(limit=100_000)
    assert {e.identifier for e in events} == {results[0]["identifier"], results[2]["identifier"]}
    assert all(e.kind == "issued" for e in events)


def test_stored_batch_licences_verify(api: TestClient, api_keys: ApiKeys) -> None:
    r = api.post(URL, json={"items": _mixed()}, headers=api_keys.h("gz_amr"))
    for item in r.json()["results"]:
        if item["outcome"] == "created":
            v = api.post("/api/v1/verify", json={"seal": item["seal"]})
            assert v.json()["verdict"] == "valid", v.text


def test_retrying_the_whole_batch_creates_nothing_new(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    first = api.post(URL, json={"items": _mixed()}, headers=api_keys.h("gz_amr")).json()
    counts = _counts(service)
    retry = api.post(URL, json={"items": _mixed()}, headers=api_keys.h("gz_amr"))
    assert retry.status_code == 200, retry.text
    again = retry.json()
    assert (again["created"], again["existing"], again["failed"]) == (0, 3, 3)
    assert [x["outcome"] for x in again["results"]] == [
        "existing",
        "error",
        "existing",
        "existing",
        "error",
        "error",
    ]
    for i in (0, 2, 3):
        assert again["results"][i]["identifier"] == first["results"][i]["identifier"]
        assert again["results"][i]["seal"] == first["results"][i]["seal"]
    assert again["results"][4]["error"]["code"] == "source_ref_conflict"
    assert _counts(service) == counts


def test_batch_items_already_issued_singly_are_existing(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    single = api.post("/api/v1/licences", json=food_permit("S-1"), headers=api_keys.h("gz_amr"))
    assert single.status_code == 201
    r = api.post(
        URL,
        json={"items": [food_permit("S-1"), food_permit("S-2")]},
        headers=api_keys.h("gz_amr"),
    )
    results = r.json()["results"]
    assert [x["outcome"] for x in results] == ["existing", "created"]
    assert results[0]["identifier"] == single.json()["identifier"]
    assert _counts(service) == (2, 2)


def test_the_failing_item_leaves_the_others_stored(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    items = [food_permit(f"K-{n}", licence_number=f"JY1440106000{n:04d}") for n in range(5)]
    items[2] = _bad_uscc("K-2")
    r = api.post(URL, json={"items": items}, headers=api_keys.h("gz_amr"))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["outcome"] for x in results] == ["created", "created", "error", "created", "created"]
    assert _counts(service) == (4, 4)
    for item in results:
        if item["outcome"] != "created":
            continue
        got = api.get(f"/api/v1/licences/{item['identifier']}", headers=api_keys.h("gz_amr"))
        assert got.status_code == 200, got.text
    refs = {lic.source_ref for lic in service.registry.search(department=GZ_AMR, limit=1000)}
    assert refs == {"K-0", "K-1", "K-3", "K-4"}


def test_1001_items_are_refused_whole(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    items = [food_permit(f"M-{n}") for n in range(1001)]
    r = api.post(URL, json={"items": items}, headers=api_keys.h("gz_amr"))
    assert r.status_code == 422, r.text[:500]
    assert r.json()["error"]["code"] == "invalid_input"
    assert r.json()["error"]["field"] == "items"
    assert _counts(service) == (0, 0)


def test_1000_items_are_accepted(api: TestClient, api_keys: ApiKeys, service: Elicence) -> None:
    items = [food_permit(f"T-{n}") for n in range(1000)]
    r = api.post(URL, json={"items": items}, headers=api_keys.h("gz_amr"))
    assert r.status_code == 200, r.text[:500]
    assert r.json()["created"] == 1000
    assert _counts(service) == (1000, 1000)


def test_empty_batch_is_refused(api: TestClient, api_keys: ApiKeys) -> None:
    r = api.post(URL, json={"items": []}, headers=api_keys.h("gz_amr"))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "items"


def test_batch_needs_a_department_key(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    items = {"items": [food_permit()]}
    assert api.post(URL, json=items).status_code == 401
    r = api.post(URL, json=items, headers=api_keys.h("hall"))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert _counts(service) == (0, 0)


def test_item_that_is_not_an_object_is_an_item_error(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    r = api.post(
        URL, json={"items": [food_permit("N-1"), "not an object"]}, headers=api_keys.h("gz_amr")
    )
    assert r.status_code < 500, r.text
    # pydantic refuses a non-object item for the whole batch, naming the item
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "items[1]"
    assert _counts(service) == (0, 0)
