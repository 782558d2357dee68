"""The interactive API documentation, ``/docs``: Swagger UI served by the service itself.

FastAPI's own ``/docs`` and ``/redoc`` load their scripts and styles from a CDN, with an inline
script: a page that trusts another origin, and that the pages' CSP would block. Here the page
loads Swagger UI from the ``swagger-ui-bundle-v2`` package's files (``/docs/assets/…``) and
starts it from ``/static/docs.js``, under the same security headers as every page. ReDoc is not
served (it needs inline styles, which the CSP forbids; Swagger UI shows the same document).
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from elicence.api.edge import EdgeRoute
from elicence.api.web import SECURITY_HEADERS, base
from elicence.errors import NotFoundError
from elicence.templates.web import asset_url

router = APIRouter(route_class=EdgeRoute, include_in_schema=False)

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


@router.get("/docs")
def docs(request: Request) -> Response:
    root = html.escape(base(request))
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>elicence API</title>
<link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="{root}/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi="{root}/openapi.json"></div>
<script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
<script src="{html.escape(asset_url("docs.js", base(request)))}"></script>
</body>
</html>
"""
    return HTMLResponse(page, headers=SECURITY_HEADERS)


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFoundError(f"no file {name}", field="name")
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=86400"}
    return Response(_read(name), media_type=ASSETS[name], headers=headers)


@functools.cache
def _read(name: str) -> bytes:
    return Path(str(swagger_ui_path), name).read_bytes()
