"""The citizen's web pages in tests: a browser-like client of a hall world, the demo holder's
sign-in, the restaurant's form as a citizen types it, and a multipart body written by hand (for
bytes a client library would refuse to send, such as a lone surrogate's UTF-8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.testclient import TestClient

from elicence.api.app import create_app
from tests.hall.conftest import ORG, World
from tests.holder.web import sign_in_holder

BASE = "https://hall.example.gov.cn"
ORG_NAME = "广州市天河区某某餐饮管理有限公司"
# the restaurant's food-permit form, as the citizen fills it in on the apply page
FORM = {
    "form.legal_representative": "张三",
    "form.residence": "广州市天河区天河路385号",
    "form.business_premises": "广州市天河区天河路385号首层101铺",
    "form.main_business_format": "餐饮服务经营者",
    "form.business_items": "热食类食品制售",
}


def web_browser(world: World) -> TestClient:
    """A client of the world's pages at the hall's public address (cookies kept)."""
    return TestClient(create_app(world.svc), base_url=BASE, raise_server_exceptions=False)


def sign_in(c: TestClient, holder: str = ORG, name: str = ORG_NAME) -> None:
    """Sign ``c`` in with the demo provider as the holder (USCC id type 001)."""
    page = sign_in_holder(c, "001", holder, name)
    assert page.status_code == 200, page.text


def cases_of(world: World, who: str = "org") -> list[dict[str, Any]]:
    """The cases ``who`` sees over the API."""
    r = world.api.get("/api/v1/cases", headers=world.h(who))
    assert r.status_code == 200
    out: list[dict[str, Any]] = r.json()
    return out


def post_raw_multipart(c: TestClient, path: str, parts: Mapping[str, bytes]) -> Any:
    """POST ``parts`` as multipart/form-data written byte for byte."""
    boundary = "b0undary"
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode()
            + v
            + b"\r\n"
            for k, v in parts.items()
        )
        + f"--{boundary}--\r\n".encode()
    )
    return c.post(
        path, content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
