"""Holder clients (role ``holder``): a citizen or an enterprise acting for itself reads, searches
and downloads its own licences, and nobody else's; it issues and changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.domain.catalogue import HolderIdType
from elicence.domain.clients import Role
from elicence.domain.licence import HolderRef
from elicence.errors import InputError
from tests.conftest import ApiKeys, food_permit, marriage

LICENCES = "/api/v1/licences"
ORG_X = "91350100M000100Y43"  # the holder of food_permit()
ORG_Y = "91440101MA59TK3R7Y"
PERSON = "11010519491231002X"  # the holder of marriage()


def _holder_key(service: Elicence, id_type: str, id_number: str) -> dict[str, str]:
    made = service.clients.add(
        name="holder",
        role=Role.HOLDER,
        department=None,
        holder=HolderRef.parse(f"{id_type}:{id_number}"),
    )
    return {"Authorization": f"Bearer {made.api_key}"}


def _issue(api: TestClient, keys: ApiKeys, who: str, body: dict[str, object]) -> str:
    r = api.post(LICENCES, json=body, headers=keys.h(who))
    assert r.status_code == 201, r.text
    return str(r.json()["identifier"])


def test_a_holder_reads_and_downloads_its_own_licence_only(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    mine = _issue(api, api_keys, "gz_amr", food_permit("H-1"))
    other = food_permit("H-2")
    other["holder"] = {"name": "另一家公司", "id_type": "001", "id_number": ORG_Y}
    theirs = _issue(api, api_keys, "gz_amr", other)
    me = _holder_key(service, "001", ORG_X)

    r = api.get(f"{LICENCES}/{mine}", headers=me)
    assert r.status_code == 200, r.text
    assert r.json()["holder"]["id_number"] == ORG_X
    pdf = api.get(f"{LICENCES}/{mine}/pdf", headers=me)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    assert api.get(f"{LICENCES}/{mine}/qr.svg", headers=me).status_code == 200

    for path in (f"{LICENCES}/{theirs}", f"{LICENCES}/{theirs}/pdf", f"{LICENCES}/{theirs}/qr.png"):
        r = api.get(path, headers=me)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "not_found"


def test_a_holder_searches_its_own_licences_whatever_it_asks(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    mine = _issue(api, api_keys, "gz_amr", food_permit("S-1"))
    _issue(api, api_keys, "th_civil", marriage("S-2"))
    me = _holder_key(service, "001", ORG_X)
    r = api.get(LICENCES, headers=me)
    assert r.status_code == 200
    assert [x["identifier"] for x in r.json()] == [mine]
    r = api.get(LICENCES, params={"holder_id_type": "111", "holder_id": PERSON}, headers=me)
    assert r.status_code == 200
    assert r.json() == []  # another holder's licences: none of them are this client's
    person = _holder_key(service, "111", PERSON)
    found = api.get(LICENCES, headers=person).json()
    assert [x["holder"]["id_number"] for x in found] == [PERSON]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", LICENCES, food_permit("X-1")),
        ("post", f"{LICENCES}/batch", {"items": [food_permit("X-2")]}),
        (
            "post",
            f"{LICENCES}/bulk",
            {"action": "revoke", "reason": "r", "holder": {"id_type": "001", "id_number": ORG_X}},
        ),
        ("get", "/api/v1/feed", None),
    ],
    ids=["issue", "batch", "bulk-revoke", "feed"],
)
def test_a_holder_issues_and_changes_nothing(
    api: TestClient, service: Elicence, method: str, path: str, body: object
) -> None:
    me = _holder_key(service, "001", ORG_X)
    r = api.request(method.upper(), path, json=body, headers=me)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    assert service.registry.count_licences() == 0


def test_a_holder_cannot_revoke_its_own_licence(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    mine = _issue(api, api_keys, "gz_amr", food_permit("R-1"))
    me = _holder_key(service, "001", ORG_X)
    r = api.post(f"{LICENCES}/{mine}/revoke", json={"reason": "不要了"}, headers=me)
    assert r.status_code == 403
    assert service.registry.licence(mine).status == "valid"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("role", "holder", "field"),
    [
        (Role.HOLDER, None, "holder"),
        (Role.HALL, HolderRef(HolderIdType.USCC, ORG_X), "holder"),
    ],
    ids=["holder-without-holder", "hall-with-holder"],
)
def test_holder_clients_are_bound_to_exactly_one_holder(
    service: Elicence, role: Role, holder: HolderRef | None, field: str
) -> None:
    with pytest.raises(InputError) as e:
        service.clients.add(name="x", role=role, department=None, holder=holder)
    assert e.value.field == field


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("91350100M000100Y43", "holder"),  # no id type
        ("002:91350100M000100Y43", "holder.id_type"),
        ("001:91350100M000100Y44", "holder.id_number"),  # wrong check character
        ("111:110105194912310021", "holder.id_number"),
        ("999:", "holder.id_number"),
        ("411:E<>1", "holder.id_number"),
    ],
    ids=["no-type", "unknown-type", "uscc-check", "resident-id-check", "empty", "bad-passport"],
)
def test_a_holder_reference_is_checked(text: str, field: str) -> None:
    with pytest.raises(InputError) as e:
        HolderRef.parse(text)
    assert e.value.field == field


def test_a_holder_reference_round_trips() -> None:
    ref = HolderRef.parse("111:11010519491231002x")
    assert ref == HolderRef(HolderIdType.RESIDENT_ID, PERSON)
    assert HolderRef.parse(str(ref)) == ref
