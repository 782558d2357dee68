"""The holder portal (市民个人网页 / 企业专属网页) and the sign-in pages.

``/me``: a holder's licences, each with its signed PDF, its QR code, its live presentation code,
its grants and its usage records; ``/me/grants``, ``/me/usage``, ``/me/tokens``. Holders sign in
at ``/login`` through the OpenID provider (``/login/callback`` finishes it); console and desk
users at ``/signin`` with their API key. Pages render through :mod:`elicence.templates.web`.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from typing import Annotated, Any

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
from elicence.app.service import Elicence
from elicence.domain.catalogue import Catalogue
from elicence.domain.clients import Client
from elicence.domain.grants import Grant, GranteeKind, UsageEntry
from elicence.domain.licence import Licence, china_today
from elicence.errors import InputError, LoginError, NotFoundError
from elicence.templates import web
from elicence.templates.presentation import presentation_svg
from elicence.templates.qr import make_qr

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

Csrf = Annotated[str, Form()]


# -- view models ---------------------------------------------------------------------------------


def licence_view(lic: Licence, catalogue: Catalogue, now: dt.datetime) -> dict[str, Any]:
    lt = catalogue.licence_types.get(lic.type_code)
    dept = catalogue.departments.get(lic.department_uscc)
    data = []
    if lt is not None:
        for item in lt.data_items:
            value = lic.data.get(item.name)
            if value:
                data.append((item.label_zh, item.label_en, value))
    today = china_today(now)
    status = lic.effective_status(today)
    if status == "valid" and today < lic.valid_from:
        status = "not_yet_valid"  # as /v and the desk say: genuine, in force from valid_from
    return {
        "identifier": lic.identifier,
        "type_code": lic.type_code,
        "type_name": lt.name_zh if lt else lic.type_code,
        "status": status,
        "licence_number": lic.licence_number,
        "holder_name": lic.holder.name,
        "holder_id": lic.holder.id_number,
        "department_name": dept.name_zh if dept else lic.department_uscc,
        "valid_from": lic.valid_from.isoformat(),
        "valid_until": lic.valid_until.isoformat() if lic.valid_until else None,
        "issued_at": lic.issued_at,
        "data": data,
    }


def grant_views(
    grants: list[Grant], svc: Elicence, licences: dict[str, str], now: dt.datetime
) -> list[dict[str, Any]]:
    halls = {h.id: h.name for h in svc.holder.halls()}
    out = []
    for g in grants:
        if g.grantee.kind is GranteeKind.HALL:
            label = halls.get(g.grantee.ref, g.grantee.ref)
        else:
            label = f"办件 Case {g.grantee.ref}"
        out.append(
            {
                "id": g.id,
                "grantee_label": label,
                "purpose": g.purpose,
                "valid_from": g.valid_from,
                "valid_until": g.valid_until,
                "state": str(g.state(now)),
                "type_name": licences.get(g.identifier, g.identifier),
            }
        )
    return out


def usage_views(usage: list[UsageEntry], licences: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "at": u.at,
            "client_name": u.client_name,
            "grant_id": u.grant_id,
            "channel": u.channel,
            "verdict": u.verdict,
            "type_name": licences.get(u.identifier, u.identifier),
        }
        for u in usage
    ]


def _type_names(svc: Elicence, holder: Client) -> dict[str, str]:
    catalogue = svc.catalogue()
    return {
        lic.identifier: (
            catalogue.licence_types[lic.type_code].name_zh
            if lic.type_code in catalogue.licence_types
            else lic.type_code
        )
        for lic in svc.holder.licences(holder)
    }


# -- home and assets -----------------------------------------------------------------------------


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
    w.sign_in(w.codec.sign_in(holder=identity.holder, name=identity.name, client_id=None))
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
    w.sign_in(w.codec.sign_in(client_id=client.id))
    return w.redirect(safe_next(next, default="/console"))


# -- my licences ---------------------------------------------------------------------------------


def _me(w: Web, path: str) -> Client | Response:
    holder = w.holder()
    if holder is None:
        if w.svc.holder.sign_in.holders_enabled:
            return w.page("portal/login.html", next=path)
        raise LoginError("holders' sign-in is not configured here")
    return holder


@router.get("/me")
def my_licences(request: Request) -> Response:
    w = Web(request)
    me = _me(w, "/me")
    if isinstance(me, Response):
        return me
    catalogue, now = w.svc.catalogue(), w.svc.clock()
    licences = [licence_view(lic, catalogue, now) for lic in w.svc.holder.licences(me)]
    return w.page("portal/licences.html", licences=licences, tab="licences")


@router.get("/me/licences/{identifier}")
def my_licence(identifier: str, request: Request, done: str | None = None) -> Response:
    w = Web(request)
    me = _me(w, f"/me/licences/{identifier}")
    if isinstance(me, Response):
        return me
    lic = w.svc.holder.licence(me, identifier)
    now = w.svc.clock()
    names = _type_names(w.svc, me)
    grants = w.svc.holder.grants(me, identifier=lic.identifier)
    usage = w.svc.holder.usage(me, identifier=lic.identifier)
    notice = {
        "granted": "已授权。 Granted.",
        "withdrawn": "已撤回授权。 Grant withdrawn.",
    }.get(done or "")
    return w.page(
        "portal/licence.html",
        lic=licence_view(lic, w.svc.catalogue(), now),
        grants=grant_views(grants, w.svc, names, now),
        usage=usage_views(usage, names),
        halls=w.svc.holder.halls(),
        show_licence=False,
        tab="licences",
        back=f"/me/licences/{lic.identifier}",
        now_ts=int(time.time()),
        live_until=web.beijing(now + dt.timedelta(seconds=90), seconds=True)[11:],
        notice=notice,
    )


@router.get("/me/licences/{identifier}/pdf")
def my_pdf(identifier: str, request: Request) -> Response:
    w = Web(request)
    me = w.holder()
    if me is None:
        return w.to_login(f"/me/licences/{identifier}")
    pdf = w.svc.holder.pdf(me, identifier)
    filename = re.sub(r"[^0-9A-Za-z.]", "", identifier) + ".pdf"
    return w.finish(
        Response(
            pdf,
            media_type="application/pdf",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
        )
    )


@router.get("/me/licences/{identifier}/qr.svg")
def my_qr(identifier: str, request: Request) -> Response:
    w = Web(request)
    me = w.holder()
    if me is None:
        return w.to_login(f"/me/licences/{identifier}")
    lic = w.svc.holder.licence(me, identifier)
    out = io.BytesIO()
    make_qr(w.svc.public_base_url, lic.seal).save(
        out, kind="svg", scale=4, border=4, xmldecl=False, title=lic.identifier
    )
    return w.finish(Response(out.getvalue(), media_type="image/svg+xml", headers=SECURITY_HEADERS))


@router.get("/me/licences/{identifier}/live.svg")
def my_live_code(identifier: str, request: Request) -> Response:
    """A fresh presentation (valid 90 s) as a QR code: the page asks for one every 60 s."""
    w = Web(request)
    me = w.holder()
    if me is None:
        raise LoginError("sign in to show a live code")
    made = w.svc.holder.present(me, identifier)
    svg = presentation_svg(made.text, title="动态亮证码 Live presentation code")
    headers = {**SECURITY_HEADERS, "X-Presentation-Not-After": made.not_after.isoformat()}
    return w.finish(Response(svg, media_type="image/svg+xml", headers=headers))


# -- grants --------------------------------------------------------------------------------------


@router.post("/me/grants")
def make_grant(
    request: Request,
    csrf: Csrf,
    identifier: Annotated[str, Form()],
    purpose: Annotated[str, Form()],
    days: Annotated[int, Form(ge=1, le=366)],
    grantee_kind: Annotated[str, Form()] = "hall",
    hall: Annotated[str, Form()] = "",
    case: Annotated[str, Form()] = "",
) -> Response:
    w = Web(request)
    w.check_csrf(csrf)
    me = w.holder()
    if me is None:
        return w.to_login(f"/me/licences/{identifier}")
    kind = GranteeKind.CASE if grantee_kind == "case" else GranteeKind.HALL
    if grantee_kind not in ("hall", "case"):
        raise InputError("must be 'hall' or 'case'", field="grantee_kind")
    now = w.svc.clock()
    grant = w.svc.holder.grant(
        me,
        identifier=identifier,
        grantee_kind=kind,
        grantee=hall if kind is GranteeKind.HALL else case,
        purpose=purpose,
        valid_until=now + dt.timedelta(days=days),
    )
    return w.redirect(f"/me/licences/{grant.identifier}?done=granted")


@router.get("/me/grants")
def my_grants(request: Request) -> Response:
    w = Web(request)
    me = _me(w, "/me/grants")
    if isinstance(me, Response):
        return me
    names = _type_names(w.svc, me)
    grants = grant_views(w.svc.holder.grants(me), w.svc, names, w.svc.clock())
    return w.page("portal/grants.html", grants=grants, tab="grants", back="/me/grants")


@router.post("/me/grants/{grant_id}/withdraw")
def withdraw_grant(
    grant_id: str,
    request: Request,
    csrf: Csrf,
    back: Annotated[str, Form()] = "/me/grants",
) -> Response:
    w = Web(request)
    w.check_csrf(csrf)
    me = w.holder()
    if me is None:
        return w.to_login("/me/grants")
    w.svc.holder.withdraw(me, grant_id)
    target = safe_next(back, default="/me/grants")
    return w.redirect(target + ("?done=withdrawn" if target.startswith("/me/licences/") else ""))


# -- usage and tokens ----------------------------------------------------------------------------


@router.get("/me/usage")
def my_usage(request: Request) -> Response:
    w = Web(request)
    me = _me(w, "/me/usage")
    if isinstance(me, Response):
        return me
    names = _type_names(w.svc, me)
    usage = usage_views(w.svc.holder.usage(me), names)
    return w.page("portal/usage.html", usage=usage, tab="usage", show_licence=True)


def _tokens_page(w: Web, me: Client, new_key: str | None = None) -> Response:
    return w.page(
        "portal/tokens.html", tokens=w.svc.holder.tokens(me), new_key=new_key, tab="tokens"
    )


@router.get("/me/tokens")
def my_tokens(request: Request) -> Response:
    w = Web(request)
    me = _me(w, "/me/tokens")
    if isinstance(me, Response):
        return me
    return _tokens_page(w, me)


@router.post("/me/tokens")
def new_token(request: Request, csrf: Csrf, name: Annotated[str, Form()]) -> Response:
    w = Web(request)
    w.check_csrf(csrf)
    me = w.holder()
    if me is None:
        return w.to_login("/me/tokens")
    made = w.svc.holder.new_token(me, name=name)
    return _tokens_page(w, me, new_key=made.api_key)


@router.post("/me/tokens/{token_id}/disable")
def disable_token(token_id: str, request: Request, csrf: Csrf) -> Response:
    w = Web(request)
    w.check_csrf(csrf)
    me = w.holder()
    if me is None:
        return w.to_login("/me/tokens")
    w.svc.holder.disable_token(me, token_id)
    return w.redirect("/me/tokens")
