"""HTTP: sign-in pages: holders at ``/login`` through the OpenID provider (authorization code with
PKCE; ``/login/callback`` finishes it), console and desk users at ``/signin`` with their API key;
``/logout`` for both."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from elicence.api.web import (
    LOGIN_COOKIE,
    SECURITY_HEADERS,
    HtmlRoute,
    Web,
    base,
    codec,
    service,
    set_cookie,
)
from elicence.app.identity import safe_next
from elicence.errors import LoginError

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

Csrf = Annotated[str, Form()]


# -- holders' sign-in (OpenID Connect) -----------------------------------------------------------


@router.get("/login")
def login(request: Request, next: str = "/me") -> Response:
    """Start the authorization-code flow with PKCE at the identity provider."""
    svc = service(request)
    sessions = codec(request)
    if not svc.holder.sign_in.holders_enabled:
        raise LoginError("no identity provider is configured for holders' sign-in here")
    start = svc.holder.sign_in.oidc().begin()
    target = safe_next(next, default="/me")
    response = RedirectResponse(start.url, status_code=303, headers=SECURITY_HEADERS)
    set_cookie(request, response, LOGIN_COOKIE, sessions.dump_login(start, next_path=target))
    return response


@router.get("/login/callback")
def login_callback(
    request: Request,
    code: str = "",
    state: str = "",
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    """Finish the sign-in: state, code exchange, ID token checks; then a holder session."""
    w = Web(request)
    if error is not None:
        raise LoginError(
            f"the identity provider refused the sign-in: {error_description or error}"[:300]
        )
    started, next_path = w.codec.load_login(request.cookies.get(LOGIN_COOKIE))
    identity = w.svc.holder.sign_in.oidc().finish(code=code, state=state, started=started)
    w.sign_in(
        w.codec.sign_in(
            holder=identity.holder, name=identity.name, client_id=None, idle=w.idle_limit()
        )
    )
    response = w.redirect(next_path)
    response.delete_cookie(LOGIN_COOKIE, path=base(request) + "/")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Csrf) -> Response:
    w = Web(request)
    w.check_csrf(csrf)
    w.sign_out()
    return w.redirect("/")


# -- console and desk sign-in (API keys) ---------------------------------------------------------


@router.get("/signin")
def signin_page(request: Request, next: str = "/console") -> Response:
    target = safe_next(next, default="/console")
    desk = target.startswith("/desk")
    return Web(request).page(
        "signin.html",
        next=target,
        heading_zh="窗口登录" if desk else "发证部门登录",
        heading_en="Hall sign-in" if desk else "Department sign-in",
    )


@router.post("/signin")
def signin(
    request: Request,
    csrf: Csrf,
    api_key: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/console",
) -> Response:
    w = Web(request)
    w.check_csrf(csrf)
    client = w.svc.clients.authenticate(api_key.strip())
    w.sign_in(w.codec.sign_in(client_id=client.id, idle=w.idle_limit()))
    return w.redirect(safe_next(next, default="/console"))
