"""Fixtures of the hall's tests: a service with the demo service items, its clients (applicants,
clerks, a hall, a supervisor), e-licences to cite, and the HTTP API over it — on SQLite and,
for tests that take ``world``, on PostgreSQL too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.domain.licence import HolderRef
from elicence.hall.items_file import DEMO_ITEMS, load_items
from tests.conftest import BUSINESS, FOOD, MARRIAGE, TH_CIVIL, food_permit, marriage

TH_AMR = "11440106MB2E000032"  # 天河区市场监督管理局: handles 开办餐馆, issues food permits
GZ_AMR = "11440100MB2D00002M"  # 广州市市场监督管理局
TH_FIRE = "11440106MB2E00710H"  # 天河区消防救援大队: in the item catalogue only
TH_HEALTH = "11440106MB2E00410G"  # 天河区卫生健康局: 生育登记 (in the item catalogue only)
ORG = "91350100M000100Y43"  # 广州市天河区某某餐饮管理有限公司
ORG2 = "91440101MA59TK3R7Y"  # another enterprise
PERSON = "11010519491231002X"  # 李四
RESTAURANT = "440106-SCJ-0001"  # 食品经营许可（开办餐馆）: business licence → food permit
RENEWAL = "440106-SCJ-0002"  # 食品经营许可延续: business licence + food permit → food permit
FIRE = "440106-XF-0001"  # 消防安全检查 (depth 2), no licence issued
MARRIAGE_REG = "440106-MZ-0001"  # 结婚登记 (depth 1), issues a marriage certificate
BIRTH_REG = "440106-WJ-0001"  # 生育登记 (depth 3): cites the marriage certificate
PDF = b"%PDF-1.4\n% a premises layout\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def restaurant_application(
    licence: dict[str, str], *, business_items: str = "热食类食品制售", **over: Any
) -> dict[str, Any]:
    """An application for :data:`RESTAURANT` citing ``licence`` (``{"seal": …}`` or
    ``{"identifier": …}``) as its business licence; ``over`` replaces top-level parts."""
    body: dict[str, Any] = {
        "item_code": RESTAURANT,
        "form": {
            "legal_representative": "张三",
            "residence": "广州市天河区天河路385号",
            "business_premises": "广州市天河区天河路385号首层101铺",
            "main_business_format": "餐饮服务经营者",
            "business_items": business_items,
        },
        "licences": [{"material": "business_licence", **licence}],
    }
    body.update(over)
    return body


def business_licence(
    source_ref: str, holder_id: str = ORG, name: str = "广州市天河区某某餐饮管理有限公司"
) -> dict[str, object]:
    return {
        "source_ref": source_ref,
        "type_code": BUSINESS,
        "licence_number": holder_id,
        "holder": {"name": name, "id_type": "001", "id_number": holder_id},
        "valid_from": "2026-01-05",
        "data": {
            "company_type": "有限责任公司（自然人投资或控股）",
            "legal_representative": "张三",
            "registered_capital": "人民币100万元",
            "established_on": "2026-01-05",
            "address": "广州市天河区天河路385号",
            "business_scope": "餐饮服务",
        },
    }


@dataclass
class World:
    """The service, its API and who is in it."""

    svc: Elicence
    api: TestClient
    keys: dict[str, str] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    seals: dict[str, str] = field(default_factory=dict)
    idents: dict[str, str] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def client(self, who: str) -> Client:
        return self.clients[who]

    def add(
        self,
        who: str,
        role: Role,
        *,
        department: str | None = None,
        holder: str | None = None,
        name: str | None = None,
    ) -> None:
        made = self.svc.clients.add(
            name=name or who,
            role=role,
            department=department,
            holder=HolderRef.parse(holder) if holder else None,
        )
        self.keys[who] = made.api_key
        self.clients[who] = self.svc.clients.authenticate(made.api_key)

    def issue(self, name: str, department: str, body: dict[str, object]) -> None:
        lic = self.svc.licences.issue(
            Client("test", "test", Role.DEPARTMENT, department), body
        ).licence
        self.seals[name] = lic.seal
        self.idents[name] = lic.identifier

    # -- applying --------------------------------------------------------------------------

    def restaurant(self, *, seal: str | None = None, **over: Any) -> dict[str, Any]:
        return restaurant_application(
            {"seal": seal or self.seals["biz"]},
            business_items="热食类食品制售；冷食类食品制售",
            **over,
        )

    def submit(
        self,
        who: str,
        body: dict[str, Any],
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """POST /cases as JSON (no files) or multipart (the JSON in ``application``)."""
        import json

        if files is None:
            return self.api.post("/api/v1/cases", json=body, headers=self.h(who))
        return self.api.post(
            "/api/v1/cases",
            data={"application": json.dumps(body, ensure_ascii=False)},
            files=files,
            headers=self.h(who),
        )

    def open_restaurant_case(self, who: str = "org") -> str:
        r = self.submit(
            who, self.restaurant(), {"premises_layout": ("layout.pdf", PDF, "application/pdf")}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["number"])

    def submit_fire_case(self, who: str = "org") -> Any:
        """Submit a 消防安全承诺 case (an item that issues nothing, depth 1), citing the
        business licence; the response."""
        return self.submit(
            who,
            {
                "item_code": FIRE,
                "form": {"premises_address": "天河路385号", "floor_area": "120"},
                "licences": [{"material": "business_licence", "seal": self.seals["biz"]}],
            },
            {"fire_commitment": ("c.pdf", PDF, "application/pdf")},
        )

    def step(self, who: str, number: str, step: str, reason: str | None = None) -> Any:
        body = {"reason": reason} if reason is not None else None
        return self.api.post(f"/api/v1/cases/{number}/{step}", json=body, headers=self.h(who))

    def drive(self, number: str, *steps: str, who: str = "th_amr") -> Any:
        """Take ``steps`` in order as ``who``; each must succeed."""
        r = None
        for s in steps:
            if s == "approve":
                r = self.api.post(f"/api/v1/cases/{number}/approve", json={}, headers=self.h(who))
            else:
                r = self.step(who, number, s)
            assert r.status_code == 200, (s, r.text)
        return r


def build_world(svc: Elicence, api: TestClient) -> World:
    svc.hall.import_items(load_items(DEMO_ITEMS))
    w = World(svc, api)
    w.add("org", Role.HOLDER, holder=f"001:{ORG}", name="广州市天河区某某餐饮管理有限公司")
    w.add("org2", Role.HOLDER, holder=f"001:{ORG2}", name="另一家公司")
    w.add("person", Role.HOLDER, holder=f"111:{PERSON}", name="李四")
    w.add("th_amr", Role.DEPARTMENT, department=TH_AMR)
    w.add("gz_amr", Role.DEPARTMENT, department=GZ_AMR)
    w.add("th_fire", Role.DEPARTMENT, department=TH_FIRE)
    w.add("th_civil", Role.DEPARTMENT, department=TH_CIVIL)
    w.add("hall", Role.HALL)
    w.add("admin", Role.ADMIN)
    w.issue("biz", TH_AMR, business_licence("T-BIZ-1"))
    w.issue("food", TH_AMR, food_permit("T-FOOD-1"))
    w.issue("biz2", TH_AMR, business_licence("T-BIZ-2", ORG2, "另一家公司"))
    w.issue("marriage", TH_CIVIL, marriage("T-MAR-1"))
    return w


@pytest.fixture
def world(service: Elicence) -> Iterator[World]:
    """The hall on SQLite."""
    with TestClient(create_app(service), raise_server_exceptions=False) as api:
        yield build_world(service, api)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest) -> Iterator[World]:
    """The hall on SQLite, then on PostgreSQL."""
    svc: Elicence = request.getfixturevalue(
        "service" if request.param == "sqlite" else "pg_service"
    )
    with TestClient(create_app(svc), raise_server_exceptions=False) as api:
        yield build_world(svc, api)


__all__ = ["BUSINESS", "FOOD", "MARRIAGE"]
