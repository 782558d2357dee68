"""Helpers for the web tests: sign in through the demo provider's page, read forms' fields."""

from __future__ import annotations

import html
import re
from typing import Any


def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden and filled fields of the first form posting to ``action``."""
    found = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S)
    assert found, f"no form posting to {action}"
    return {
        k: html.unescape(v)
        for k, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', found.group(1))
    }


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return html.unescape(found.group(1))


def sign_in_holder(
    client: Any, id_type: str, id_number: str, name: str, next_path: str = "/me"
) -> Any:
    """The whole OIDC round trip as a browser makes it; the last answer (the page after it)."""
    r = client.get(f"/login?next={next_path}", follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    assert page.status_code == 200, page.text
    fields = form_fields(page.text, "/demo-idp/authorize")
    fields.update({"id_type": id_type, "id_number": id_number, "name": name})
    r = client.post("/demo-idp/authorize", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = client.get(r.headers["location"], follow_redirects=False)
    assert r.status_code == 303, r.text
    return client.get(r.headers["location"])


def sign_in_key(client: Any, api_key: str, next_path: str) -> Any:
    page = client.get(f"/signin?next={next_path}")
    assert page.status_code == 200
    return client.post(
        "/signin", data={"csrf": csrf_of(page.text), "api_key": api_key, "next": next_path}
    )
