"""Licence data is never kept by a cache (issue 16, section 4): every answer of a route that
takes an API key (its licences, searches, issuance, batches, grants, verification, presentations,
usage records) carries ``Cache-Control: no-store``; public reads keep their own caching."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import food_permit
from tests.holder.conftest import World


def _grant(world: World) -> dict[str, Any]:
    body = {
        "identifier": world.food["identifier"],
        "grantee": {"kind": "hall", "ref": world.hall_id},
        "purpose": "办理食品经营许可变更",
        "valid_until": "2026-12-28T02:00:00Z",
    }
    r = world.api.post("/api/v1/grants", json=body, headers=world.org)
    assert r.status_code == 201, r.text
    grant: dict[str, Any] = r.json()
    return grant


def _presentation(world: World) -> str:
    r = world.api.get(
        f"/api/v1/licences/{world.food['identifier']}/presentation", headers=world.org
    )
    assert r.status_code == 200, r.text
    text: str = r.json()["presentation"]
    return text


CALLS = [
    "licence",
    "search",
    "issue",
    "batch",
    "lifecycle",
    "grant",
    "grants",
    "granted-licence",
    "verify-hall",
    "verify-anonymous",
    "presentation",
    "presentation-verify",
    "usage",
]


def _call(world: World, name: str) -> Any:
    api, keys, ident = world.api, world.keys, world.food["identifier"]
    match name:
        case "licence":
            return api.get(f"/api/v1/licences/{ident}", headers=keys.h("gz_amr"))
        case "search":
            return api.get(
                "/api/v1/licences?type_code=11100000000013338W011", headers=keys.h("gz_amr")
            )
        case "issue":
            return api.post("/api/v1/licences", json=food_permit("NS-1"), headers=keys.h("gz_amr"))
        case "batch":
            body = {"items": [food_permit("NS-2")]}
            return api.post("/api/v1/licences/batch", json=body, headers=keys.h("gz_amr"))
        case "lifecycle":
            return api.post(
                f"/api/v1/licences/{ident}/suspend",
                json={"reason": "核查"},
                headers=keys.h("gz_amr"),
            )
        case "grant":
            return api.post(
                "/api/v1/grants",
                json={
                    "identifier": ident,
                    "grantee": {"kind": "hall", "ref": world.hall_id},
                    "purpose": "办理",
                    "valid_until": "2026-12-28T02:00:00Z",
                },
                headers=world.org,
            )
        case "grants":
            _grant(world)
            return api.get("/api/v1/grants", headers=world.org)
        case "granted-licence":
            grant = _grant(world)
            return api.get(f"/api/v1/grants/{grant['id']}/licence", headers=world.hall())
        case "verify-hall":
            return api.post(
                "/api/v1/verify", json={"seal": world.food["seal"]}, headers=world.hall()
            )
        case "verify-anonymous":
            return api.post("/api/v1/verify", json={"seal": world.food["seal"]})
        case "presentation":
            return api.get(f"/api/v1/licences/{ident}/presentation", headers=world.org)
        case "presentation-verify":
            body = {"presentation": _presentation(world)}
            return api.post("/api/v1/presentations/verify", json=body, headers=world.hall())
        case "usage":
            return api.get("/api/v1/usage", headers=world.org)
    raise AssertionError(name)


@pytest.mark.parametrize("name", CALLS)
def test_licence_json_is_not_stored_by_caches(world: World, name: str) -> None:
    r = _call(world, name)
    assert r.status_code < 300, r.text
    assert r.headers["Cache-Control"] == "no-store"


def test_public_reads_keep_their_own_caching(world: World) -> None:
    r = world.api.get("/api/v1/trust-list")
    assert r.status_code == 200
    assert r.headers.get("Cache-Control") != "no-store"
