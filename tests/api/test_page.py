"""The public verification page over HTTP: strict CSP, nothing inline, nothing external, caching.

What the page does in a browser is in ``test_page_browser.py``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from elicence.templates import page


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data.strip()


def _tags(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_the_page_is_html_with_a_strict_csp_and_is_cacheable(api: TestClient) -> None:
    r = api.get("/v")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert r.headers["etag"]
    again = api.get("/v", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_the_page_has_a_viewport_and_no_inline_script_style_or_handlers(api: TestClient) -> None:
    html = api.get("/v").text
    parsed = _tags(html)
    assert parsed.script_text == "", "inline script or style"
    names = [t for t, _ in parsed.tags]
    assert "style" not in names
    for tag, attrs in parsed.tags:
        assert "style" not in attrs, tag
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        if tag == "script":
            assert attrs.get("src"), "a script without src"
    viewport = [a for t, a in parsed.tags if t == "meta" and a.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0]["content"] or "")
    assert ("html", {"lang": "zh-CN"}) in parsed.tags


@pytest.mark.parametrize("path", ["/v", "/v.js", "/v.css", "/v-icon.svg"])
def test_nothing_is_loaded_from_another_origin(path: str, api: TestClient) -> None:
    body = api.get(path).text
    urls = [u for u in re.findall(r"(?:https?:)?//[\w.-]+", body) if u != "http://www.w3.org"]
    assert urls == [], urls
    assert "@import" not in body


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/v.js", "text/javascript; charset=utf-8"),
        ("/v.css", "text/css; charset=utf-8"),
        ("/v-icon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served_immutable_under_a_content_digest(
    path: str, media_type: str, api: TestClient
) -> None:
    html = api.get("/v").text
    name = path.lstrip("/")
    linked = re.search(rf'"({re.escape(name)}\?h=[0-9a-f]{{16}})"', html)
    assert linked, f"/v does not link {name} with its digest"
    r = api.get("/" + linked.group(1))
    assert r.status_code == 200
    assert r.headers["content-type"] == media_type
    assert "immutable" in r.headers["cache-control"]
    assert r.headers["etag"].strip('"')[:16] == linked.group(1).rsplit("=", 1)[1]


def test_the_script_never_writes_html() -> None:
    js = page.script().body.decode()
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert banned not in js, banned
    assert "textContent" in js


def test_the_page_links_are_relative_so_a_path_prefix_works() -> None:
    html = page.verification_page().body.decode()
    assert 'href="/' not in html and 'src="/' not in html
    js = page.script().body.decode()
    assert '"api/v1/verify"' in js
