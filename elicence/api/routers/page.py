"""HTTP: the public verification page (``/v`` and its assets) and a licence's QR code image.

The page is static and public; the QR images follow the access rule of reading a licence (its
own department, or an admin), since the QR carries the whole seal.
"""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from elicence.api.auth import RATE_LIMITED, PublicLimit, RequiredClient, Service
from elicence.api.edge import EdgeRoute
from elicence.app.service import Elicence
from elicence.templates import page
from elicence.templates.qr import make_qr

router = APIRouter(
    route_class=EdgeRoute,
)

SECURITY_HEADERS = {
    "Content-Security-Policy": page.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _serve(asset: page.Asset, request: Request) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": asset.cache_control}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get(
    "/v",
    response_class=Response,
    tags=["page"],
    dependencies=[PublicLimit],
    responses=RATE_LIMITED,
)
def verification_page(request: Request) -> Response:
    """The page a licence's QR code opens: it verifies the seal after ``#`` in the browser."""
    return _serve(page.verification_page(), request)


@router.get("/v.js", response_class=Response, include_in_schema=False, dependencies=[PublicLimit])
def verification_script(request: Request) -> Response:
    return _serve(page.script(), request)


@router.get("/v.css", response_class=Response, include_in_schema=False, dependencies=[PublicLimit])
def verification_stylesheet(request: Request) -> Response:
    return _serve(page.stylesheet(), request)


@router.get(
    "/v-icon.svg", response_class=Response, include_in_schema=False, dependencies=[PublicLimit]
)
def verification_icon(request: Request) -> Response:
    return _serve(page.icon(), request)


QR_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "this client may not read licences"},
    404: {"description": "no such licence for this client"},
}
QR_HEADERS = {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"}
Scale = Annotated[int, Query(ge=1, le=40, description="pixels (PNG) or units (SVG) per module")]


def _qr(svc: Elicence, client: RequiredClient, identifier: str, kind: str, scale: int) -> bytes:
    lic = svc.licences.get(client, identifier)
    qr = make_qr(svc.public_base_url, lic.seal)
    out = io.BytesIO()
    if kind == "svg":
        qr.save(out, kind="svg", scale=scale, border=4, xmldecl=False, title=lic.identifier)
    else:
        qr.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


@router.get(
    "/api/v1/licences/{identifier}/qr.svg",
    response_class=Response,
    responses={**QR_RESPONSES, 200: {"content": {"image/svg+xml": {}}}},
    tags=["licences"],
)
def licence_qr_svg(
    identifier: str, client: RequiredClient, svc: Service, scale: Scale = 4
) -> Response:
    """The licence's QR code (the verification URL) as SVG."""
    body = _qr(svc, client, identifier, "svg", scale)
    return Response(body, media_type="image/svg+xml", headers=QR_HEADERS)


@router.get(
    "/api/v1/licences/{identifier}/qr.png",
    response_class=Response,
    responses={**QR_RESPONSES, 200: {"content": {"image/png": {}}}},
    tags=["licences"],
)
def licence_qr_png(
    identifier: str, client: RequiredClient, svc: Service, scale: Scale = 8
) -> Response:
    """The licence's QR code (the verification URL) as PNG."""
    body = _qr(svc, client, identifier, "png", scale)
    return Response(body, media_type="image/png", headers=QR_HEADERS)
