"""Templates: the public verification page ``/v``: one static HTML document, its script and its
stylesheet.

The page a licence's QR code opens. It carries no licence data: its script reads the seal after
``#`` (never sent to the server), asks ``POST /api/v1/verify`` anonymously and writes the answer
with ``textContent``. Invariants: the HTML holds no inline script or style, so
:data:`CONTENT_SECURITY_POLICY` can forbid both; nothing is loaded from another origin; every URL
in the page is relative, so the service may live under a path prefix. Asset URLs carry a digest
of the asset, so they can be cached for long while the page itself is cached briefly.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

# Everything from this origin only; nothing inline, no frames, no forms, no plugins.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_MAX_AGE = 300  # seconds: a fixed page may reach phones a few minutes late
ASSET_MAX_AGE = 365 * 24 * 3600  # seconds: asset URLs change with their content


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file as served: its bytes, media type, strong ETag and cache lifetime."""

    body: bytes
    media_type: str
    etag: str
    max_age: int

    @property
    def cache_control(self) -> str:
        if self.max_age >= ASSET_MAX_AGE:
            return f"public, max-age={self.max_age}, immutable"
        return f"public, max-age={self.max_age}"


def _read(name: str) -> bytes:
    return resources.files("elicence.templates").joinpath("static", name).read_bytes()


def _asset(body: bytes, media_type: str, max_age: int) -> Asset:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(body=body, media_type=media_type, etag=etag, max_age=max_age)


@functools.cache
def script() -> Asset:
    """``/v.js``: reads the hash, verifies, shows the verdict."""
    return _asset(_read("v.js"), "text/javascript; charset=utf-8", ASSET_MAX_AGE)


@functools.cache
def stylesheet() -> Asset:
    """``/v.css``: readable on a phone, verdicts distinguished by shape as well as colour."""
    return _asset(_read("v.css"), "text/css; charset=utf-8", ASSET_MAX_AGE)


@functools.cache
def icon() -> Asset:
    """``/v-icon.svg``: the page's icon (a plain document), so browsers ask for no favicon.ico."""
    return _asset(_read("v-icon.svg"), "image/svg+xml", ASSET_MAX_AGE)


def _versioned(name: str, asset: Asset) -> str:
    return f"{name}?h={asset.etag.strip(chr(34))[:16]}"


@functools.cache
def verification_page() -> Asset:
    """``/v``: the HTML document, with relative links to the script and stylesheet of this build."""
    html = _read("v.html").decode("utf-8")
    html = html.replace("{js}", _versioned("v.js", script()))
    html = html.replace("{css}", _versioned("v.css", stylesheet()))
    html = html.replace("{icon}", _versioned("v-icon.svg", icon()))
    return _asset(html.encode("utf-8"), "text/html; charset=utf-8", PAGE_MAX_AGE)
