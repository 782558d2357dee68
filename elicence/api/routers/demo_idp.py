"""HTTP: the demo OpenID provider's HTTP face (development only): discovery, JWKS, the sign-in page
(the authorization endpoint) and the token endpoint, under ``/demo-idp``.

Every route answers 404 unless the deployment enabled the demo provider, which ``Settings``
refuses outside development mode. Its token endpoint speaks OAuth's error format.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from elicence.api.edge import EdgeRoute
from elicence.api.web import SECURITY_HEADERS, HtmlRoute, Web, service
from elicence.app.demo_idp import DEMO_HOLDERS, DemoIdentityProvider
from elicence.errors import LoginError, NotFoundError

router = APIRouter(prefix="/demo-idp", route_class=HtmlRoute, include_in_schema=False)
token_router = APIRouter(prefix="/demo-idp", route_class=EdgeRoute, include_in_schema=False)

REQUEST_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


def _demo(request: Request) -> DemoIdentityProvider:
    demo = service(request).holder.sign_in.demo
    if demo is None:
        raise NotFoundError("there is no demo identity provider here (development only)")
    return demo


@router.get("/.well-known/openid-configuration")
def configuration(request: Request) -> Any:
    return JSONResponse(_demo(request).configuration())


@router.get("/jwks")
def jwks(request: Request) -> Any:
    return JSONResponse(_demo(request).jwks())


@router.get("/authorize")
def authorize_page(request: Request) -> Response:
    demo = _demo(request)
    params = {k: v for k, v in request.query_params.items() if k in REQUEST_FIELDS}
    checked = demo.check_request(params)
    fields = {
        "response_type": "code",
        "client_id": checked.client_id,
        "redirect_uri": checked.redirect_uri,
        "scope": checked.scope,
        "state": checked.state,
        "nonce": checked.nonce,
        "code_challenge": checked.code_challenge,
        "code_challenge_method": "S256",
    }
    return Web(request).page("idp_login.html", request_fields=fields, demo_holders=DEMO_HOLDERS)


@router.post("/authorize")
async def authorize(request: Request) -> Response:
    demo = _demo(request)
    w = Web(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    w.check_csrf(form.get("csrf"))
    checked = demo.check_request({k: form.get(k, "") for k in REQUEST_FIELDS})
    target = demo.authorize(
        checked,
        id_type=form.get("id_type", ""),
        id_number=form.get("id_number", ""),
        name=form.get("name", ""),
    )
    return w.finish(RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS))


@token_router.post("/token")
def token(
    request: Request,
    grant_type: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    code_verifier: Annotated[str, Form()] = "",
    redirect_uri: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    client_secret: Annotated[str, Form()] = "",
) -> Response:
    demo = _demo(request)
    header = request.headers.get("authorization", "")
    basic = header[6:].strip() if header.lower().startswith("basic ") else None
    form = {
        "grant_type": grant_type,
        "code": code,
        "code_verifier": code_verifier,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    try:
        body = demo.token(form, basic=basic)
    except LoginError as e:
        status = 401 if e.code == "invalid_client" else 400
        return JSONResponse(
            {"error": e.code, "error_description": e.message},
            status,
            headers={"Cache-Control": "no-store"},
        )
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
