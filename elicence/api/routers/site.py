"""The site's front page and its static files (stylesheet, scripts, icon), served with a digest
in their URL and cached for a year."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from elicence.api.web import SECURITY_HEADERS, TERMINAL_COOKIE, HtmlRoute, Web, set_cookie
from elicence.errors import LoginError, NotFoundError
from elicence.templates import web

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)


@router.get("/")
def home(request: Request) -> Response:
    return Web(request).page("home.html")


@router.get("/static/{name}")
def static(name: str, request: Request) -> Response:
    if name not in web.ASSETS:
        raise NotFoundError(f"no file {name}", field="name")
    asset = web.asset(name)
    headers = {
        **SECURITY_HEADERS,
        "ETag": asset.etag,
        "Cache-Control": f"public, max-age={asset.max_age}, immutable",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/terminal")
def terminal(request: Request, off: bool = False) -> Response:
    """Make this browser a self-service terminal (自助终端): large targets, and signed out with
    the screen cleared after 2 minutes without a touch (``static/terminal.js``); ``?off=1``
    undoes it. Set up once by the hall on the terminal's browser."""
    w = Web(request)
    response = w.redirect("/services")
    if off:
        response.delete_cookie(TERMINAL_COOKIE, path=w.base + "/")
    else:
        set_cookie(request, response, TERMINAL_COOKIE, "1")
    return response


@router.post("/terminal/alive")
def terminal_alive(request: Request) -> Response:
    """A terminal's page says the person is still there (a touch or a key without a request:
    typing a long form). A session signed in at a terminal ends 2 minutes after its last request
    on the server; this request is one. 204, or 401 once the session has ended (the script then
    clears the screen). CSRF: the header ``X-CSRF-Token``."""
    w = Web(request)
    w.check_csrf(request.headers.get("x-csrf-token"))
    if not w.session.signed_in:
        raise LoginError("the session has ended", field="session")
    return w.finish(Response(status_code=204, headers=SECURITY_HEADERS))
