"""Fixtures of the holder side: holder API keys, a licence of each holder, the hall's client id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.domain.clients import Role
from elicence.domain.licence import HolderRef
from tests.conftest import ApiKeys, food_permit, marriage

ORG_X = "91350100M000100Y43"  # the holder of food_permit()
ORG_Y = "91440101MA59TK3R7Y"
PERSON = "11010519491231002X"  # the holder of marriage()
ORG_NAME = "广州市天河区某某餐饮管理有限公司"
ORG_ID_MASK = "9135" + "*" * 10 + "0Y43"  # mask_id(ORG_X)


def holder_key(service: Elicence, ref: str, name: str = "holder") -> dict[str, str]:
    made = service.clients.add(
        name=name, role=Role.HOLDER, department=None, holder=HolderRef.parse(ref)
    )
    return {"Authorization": f"Bearer {made.api_key}"}


def issue(api: TestClient, keys: ApiKeys, who: str, body: dict[str, object]) -> dict[str, Any]:
    r = api.post("/api/v1/licences", json=body, headers=keys.h(who))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


@dataclass
class World:
    """Two holders with a licence each, an enterprise without one, and a hall."""

    api: TestClient
    keys: ApiKeys
    service: Elicence
    food: dict[str, Any]  # ORG_X's food permit
    wedding: dict[str, Any]  # PERSON's marriage certificate
    org: dict[str, str]  # ORG_X's holder key headers
    person: dict[str, str]  # PERSON's
    other: dict[str, str]  # ORG_Y's (holds nothing)
    hall_id: str

    def hall(self) -> dict[str, str]:
        return self.keys.h("hall")


@pytest.fixture
def world(api: TestClient, api_keys: ApiKeys, service: Elicence) -> World:
    food = issue(api, api_keys, "gz_amr", food_permit())
    wedding = issue(api, api_keys, "th_civil", marriage())
    hall_id = next(c.id for c in service.clients.all() if c.role == "hall")
    return World(
        api=api,
        keys=api_keys,
        service=service,
        food=food,
        wedding=wedding,
        org=holder_key(service, f"001:{ORG_X}", "某某餐饮 ERP"),
        person=holder_key(service, f"111:{PERSON}"),
        other=holder_key(service, f"001:{ORG_Y}"),
        hall_id=hall_id,
    )
