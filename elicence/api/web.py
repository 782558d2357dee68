"""HTTP: the web pages' transport: sessions in cookies, CSRF checks, HTML responses and HTML errors.

Every page answers with :data:`SECURITY_HEADERS` (a strict CSP: scripts and styles from this
origin only, forms posting to this origin only). A browser gets a session cookie on its first
page (anonymous, with a CSRF token for the sign-in forms); signing in replaces it. Every
state-changing request must carry the session's CSRF token (a form field ``csrf`` or the header
``X-CSRF-Token``) and, where the browser sends one, an ``Origin`` of this service.

Invariants: cookies are HttpOnly and SameSite=Lax (Secure when the service is on HTTPS); an error
on a page is a page (status from ``api/errors.status_of``), never a stack trace.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from elicence import errors
from elicence.api.context import request_id
from elicence.api.edge import EdgeRoute
from elicence.api.errors import safe_text, status_of, unavailable_message
from elicence.app.identity import Session, SessionCodec
from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.errors import AuthenticationError, InputError, LoginError, SettingsError
from elicence.templates import web
from elicence.templates.texts import error_zh

log = logging.getLogger("elicence.api")

SESSION_COOKIE = "elicence_session"
LOGIN_COOKIE = "elicence_login"
TERMINAL_COOKIE = "elicence_terminal"  # this browser is a hall's self-service terminal
# a session signed in at a terminal ends this long after its last request, on the server too
# (the page's script signs out after as long without a touch: ``static/terminal.js``)
TERMINAL_IDLE = dt.timedelta(minutes=2)
SECURITY_HEADERS = {
    "Content-Security-Policy": web.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def service(request: Request) -> Elicence:
    svc: Elicence = request.app.state.elicence
    return svc


def base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def codec(request: Request) -> SessionCodec:
    sessions = service(request).holder.sign_in.sessions
    if sessions is None:
        raise SettingsError(
            "web sign-in is not configured here (ELICENCE_SESSION_SECRET is not set)",
            field="session_secret",
        )
    return sessions


class Web:
    """One page request: its service, its session (made anonymous if there is none)."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.svc = service(request)
        self.base = base(request)
        self.codec = codec(request)
        loaded = self.codec.load(request.cookies.get(SESSION_COOKIE))
        self._fresh = loaded is None
        self.session: Session = loaded or self.codec.new()
        touched = self.codec.touch(self.session) if loaded else None
        if touched is not None:
            self.session, self._fresh = touched, True

    # -- who ------------------------------------------------------------------------------------

    def holder(self) -> Client | None:
        ref = self.codec.holder_of(self.session)
        if ref is None:
            return None
        return self.svc.holder.principal(ref, self.session.name)

    def client(self, *roles: Role) -> Client | None:
        """The API client signed in on the console or the desk, if it has one of ``roles``."""
        if self.session.client_id is None:
            return None
        client = self.svc.holder.client(self.session.client_id)
        if client is None or client.role not in roles:
            return None
        return client

    def who(self) -> str:
        return _who(self.svc, self.session)

    @property
    def terminal(self) -> bool:
        """This browser is a hall's self-service terminal (``/terminal`` set it up)."""
        return self.request.cookies.get(TERMINAL_COOKIE) == "1"

    def idle_limit(self) -> dt.timedelta | None:
        """The idle limit of a session signed in now: a terminal's, else the service's."""
        return TERMINAL_IDLE if self.terminal else None

    def sign_in(self, session: Session) -> None:
        self.session, self._fresh = session, True

    def sign_out(self) -> None:
        self.session, self._fresh = self.codec.new(), True

    # -- CSRF -----------------------------------------------------------------------------------

    def check_csrf(self, token: str | None) -> None:
        origin = self.request.headers.get("origin")
        if origin is not None and origin != "null" and not _same_origin(self.request, origin):
            raise LoginError("the form came from another site (Origin)", field="csrf")
        if not SessionCodec.csrf_ok(self.session, token):
            raise LoginError(
                "the form has expired or came from elsewhere: reload the page and try again",
                field="csrf",
                code="csrf_failed",
            )

    # -- responses ------------------------------------------------------------------------------

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        html = web.render(
            template,
            base=self.base,
            csrf=self.session.csrf,
            who=self.who(),
            notice=context.pop("notice", None),
            terminal=self.terminal,
            terminal_idle=int(TERMINAL_IDLE.total_seconds()),
            **context,
        )
        return self.finish(HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS))

    def redirect(self, path: str) -> Response:
        return self.finish(
            RedirectResponse(self.base + path, status_code=303, headers=SECURITY_HEADERS)
        )

    def finish(self, response: Response) -> Response:
        if self._fresh:
            set_cookie(self.request, response, SESSION_COOKIE, self.codec.dump(self.session))
        return response

    def to_login(self, next_path: str) -> Response:
        return self.redirect(f"/login?next={quote(next_path)}")

    def to_signin(self, next_path: str) -> Response:
        return self.redirect(f"/signin?next={quote(next_path)}")

    def path(self) -> str:
        """The request's path below the service's base (what ``redirect`` and ``next`` take)."""
        path = self.request.url.path
        return path[len(self.base) :] if self.base and path.startswith(self.base) else path


class SignInNeededError(Exception):
    """Raised by a page's dependency without a session: :class:`HtmlRoute` answers with
    ``response`` (the sign-in page, or a redirect to it)."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered before the route ran")
        self.response = response


@dataclass(frozen=True, slots=True)
class HolderPage:
    """A request of a signed-in holder: the page's :class:`Web` and the holder."""

    w: Web
    me: Client


class HolderGuard:
    """The one holder guard of the portal's routes, as a dependency.

    On a form (``form=True``) the CSRF token is checked first, before anything else. Without a
    holder session the request is answered: ``"page"``, the sign-in page (or an error where
    holders' sign-in is not configured); ``"redirect"``, a redirect to ``/login``; ``"refuse"``,
    a 401. ``next_path`` is where the sign-in comes back to, formatted with ``path`` (the
    request's), the path parameters and, on a form, its fields.
    """

    def __init__(
        self,
        next_path: str = "{path}",
        *,
        answer: Literal["page", "redirect", "refuse"] = "page",
        form: bool = False,
        refusal: str = "sign in first",
    ) -> None:
        self.next_path = next_path
        self.answer = answer
        self.form = form
        self.refusal = refusal

    async def __call__(self, request: Request) -> HolderPage:
        w = Web(request)
        values: dict[str, str] = {"path": w.path(), **request.path_params}
        if self.form:
            fields = await request.form()
            csrf = fields.get("csrf")
            if not isinstance(csrf, str):
                raise InputError("is required", field="csrf")
            w.check_csrf(csrf)
            values = {k: v for k, v in fields.items() if isinstance(v, str)} | values
        me = w.holder()
        if me is not None:
            return HolderPage(w, me)
        next_path = self.next_path.format_map(values)
        if self.answer == "refuse":
            raise LoginError(self.refusal)
        if self.answer == "redirect":
            raise SignInNeededError(w.to_login(next_path))
        if not w.svc.holder.sign_in.holders_enabled:
            raise LoginError("holders' sign-in is not configured here")
        raise SignInNeededError(w.page("portal/login.html", next=next_path))


def _who(svc: Elicence, session: Session) -> str:
    if session.holder is not None:
        return session.name or ""
    if session.client_id is not None:
        client = svc.holder.client(session.client_id)
        return client.name if client else ""
    return ""


def public_page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """A page for anyone (the dashboard): it needs no session and sets no cookie, so it works
    where web sign-in is not configured; who is signed in is shown when a session is there."""
    session: Session | None = None
    try:
        session = codec(request).load(request.cookies.get(SESSION_COOKIE))
    except errors.SettingsError:
        session = None
    html = web.render(
        template,
        base=base(request),
        csrf=session.csrf if session else "",
        who=_who(service(request), session) if session else "",
        notice=context.pop("notice", None),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, path: str = "/"
) -> None:
    secure = service(request).holder.sign_in.secure_cookies
    response.set_cookie(
        name, value, httponly=True, samesite="lax", secure=secure, path=base(request) + path
    )


def _same_origin(request: Request, origin: str) -> bool:
    public = urlsplit(service(request).public_base_url)
    asked = urlsplit(origin)
    if (asked.scheme, asked.netloc) == (public.scheme, public.netloc):
        return True
    host = request.headers.get("host", "")
    return asked.netloc == host and asked.scheme in ("http", "https")


TITLES = {
    401: ("需要登录", "Sign-in needed"),
    403: ("无权操作", "Not allowed"),
    404: ("未找到", "Not found"),
    409: ("无法完成", "Cannot be done"),
    413: ("文件过大", "Too large"),
    422: ("输入有误", "Check your input"),
    429: ("请求过于频繁", "Too many requests"),
}


# an error's field -> the id of the console's input it names
_INPUT_IDS = {
    "holder.name": "holder_name",
    "holder.id_type": "holder_id_type",
    "holder.id_number": "holder_id",
    "holder": "holder_id",
}


def error_view(exc: errors.Error, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """An error as a form shows it beside its field: Chinese first, the API's English words."""
    field = exc.field or ""
    input_id = _INPUT_IDS.get(field) or (
        "data-" + field[5:] if field.startswith("data.") else field
    )
    return {
        "field": safe_text(field) if field else None,
        "input_id": input_id,
        "code": exc.code,
        "message": safe_text(exc.message),
        "zh": error_zh(exc.code, exc.message, field or None, labels),
    }


def error_page(request: Request, exc: errors.Error) -> Response:
    status = status_of(exc)
    message = safe_text(exc.message)
    if status >= 500:  # the details to the log under the request id, never to the page
        rid = request_id(request)
        log.error("request %s: page answered %s (%s): %s", rid, status, exc.code, exc, exc_info=exc)
        message = unavailable_message(exc, rid)
    title = TITLES.get(status, ("服务暂不可用", "Service unavailable"))
    try:
        csrf = codec(request).load(request.cookies.get(SESSION_COOKIE))
    except errors.Error:
        csrf = None
    html = web.render(
        "error.html",
        base=base(request),
        csrf=csrf.csrf if csrf else "",
        who="",
        notice=None,
        title_zh=title[0],
        title_en=title[1],
        message=message,
        message_zh=error_zh(exc.code, exc.message, exc.field) if status < 500 else "",
        field=safe_text(exc.field) if exc.field else None,
        code=exc.code,
        back=request.headers.get("referer") or (base(request) + "/"),
    )
    headers = dict(SECURITY_HEADERS)
    if isinstance(exc, errors.RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
    return HTMLResponse(html, status_code=status, headers=headers)


class HtmlRoute(EdgeRoute):
    """A route whose errors are pages: domain errors and malformed forms become an error page
    (its body is bounded and read as every route's: ``api/edge.py``; its forms, those it reads
    itself too, pass the text rule)."""

    reads_forms = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeededError as answered:
                return answered.response
            except errors.Error as e:
                if isinstance(e, AuthenticationError) and e.field == "Authorization":
                    e = LoginError("the API key is not valid", field="api_key")
                return error_page(request, e)
            except RequestValidationError as e:
                first = e.errors()[0] if e.errors() else {}
                loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
                message = "is required" if first.get("type") == "missing" else "is not valid"
                return error_page(request, errors.InputError(message, field=".".join(loc) or None))

        return page
