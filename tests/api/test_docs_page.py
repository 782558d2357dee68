"""``/docs`` loads nothing from another origin and carries the pages' CSP (issue 16, section 4)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from elicence.templates.web import CONTENT_SECURITY_POLICY


def test_docs_loads_only_this_service_under_the_pages_csp(api: TestClient) -> None:
    r = api.get("/docs")
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in r.text  # no inline script: the CSP would refuse it
    urls = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert len(urls) >= 4
    for url in urls:
        assert url.startswith("/"), f"{url} is not this service's"
        asset = api.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert len(asset.content) > 0
    assert "SwaggerUIBundle" in api.get(next(u for u in urls if "swagger-ui-bundle" in u)).text


def test_docs_assets_are_a_fixed_list(api: TestClient) -> None:
    assert api.get("/docs/assets/index.html").status_code == 404
    assert api.get("/docs/assets/..%2F__init__.py").status_code == 404


def test_redoc_is_not_served(api: TestClient) -> None:
    """ReDoc needs inline styles (the CSP forbids them) and came from a CDN: /docs replaces it."""
    assert api.get("/redoc").status_code == 404


def test_the_openapi_document_is_still_served(api: TestClient) -> None:
    assert api.get("/openapi.json").json()["info"]["title"] == "elicence"
