"""The holder portal (市民个人网页 / 企业专属网页): the ``/me`` pages.

``/me``: a holder's licences, each with its signed PDF, its QR code, its live presentation code,
its grants and its usage records; ``/me/grants``, ``/me/usage``, ``/me/tokens``. Every route
takes the signed-in holder through one dependency (:class:`~elicence.api.web.HolderGuard`:
the sign-in page, or a redirect to it, without a session; the CSRF check first on a form). The
view models are in :mod:`~elicence.api.routers.views`; pages render through
:mod:`elicence.templates.web`.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from elicence.api.routers.applying import unread
from elicence.api.routers.views import grant_views, licence_view, type_names, usage_views
from elicence.api.web import SECURITY_HEADERS, HolderGuard, HolderPage, HtmlRoute
from elicence.app.identity import safe_next
from elicence.domain.grants import GranteeKind, parse_grantee_kind
from elicence.domain.licence import china_today, fold_versions
from elicence.templates import web
from elicence.templates.presentation import presentation_svg
from elicence.templates.qr import make_qr

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

Me = Annotated[HolderPage, Depends(HolderGuard())]
LicenceFile = Annotated[
    HolderPage, Depends(HolderGuard("/me/licences/{identifier}", answer="redirect"))
]


def _form(next_path: str) -> HolderGuard:
    return HolderGuard(next_path, answer="redirect", form=True)


# -- my licences ---------------------------------------------------------------------------------


@router.get("/me")
def my_licences(h: Me) -> Response:
    w = h.w
    catalogue, now = w.svc.catalogue(), w.svc.clock()
    # the version in force first, the versions it replaced folded under it
    licences = [
        {
            **licence_view(head, catalogue, now),
            "older": [licence_view(o, catalogue, now) for o in older],
        }
        for head, older in fold_versions(w.svc.holder.licences(h.me), china_today(now))
    ]
    return w.page(
        "portal/licences.html", licences=licences, tab="licences", notices=unread(w, h.me)
    )


@router.get("/me/licences/{identifier}")
def my_licence(identifier: str, h: Me, done: str | None = None) -> Response:
    w, me = h.w, h.me
    lic = w.svc.holder.licence(me, identifier)
    now = w.svc.clock()
    names = type_names(w.svc, me)
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
def my_pdf(identifier: str, h: LicenceFile) -> Response:
    pdf = h.w.svc.holder.pdf(h.me, identifier)
    filename = re.sub(r"[^0-9A-Za-z.]", "", identifier) + ".pdf"
    return h.w.finish(
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
def my_qr(identifier: str, h: LicenceFile) -> Response:
    w = h.w
    lic = w.svc.holder.licence(h.me, identifier)
    out = io.BytesIO()
    make_qr(w.svc.public_base_url, lic.seal).save(
        out, kind="svg", scale=4, border=4, xmldecl=False, title=lic.identifier
    )
    return w.finish(Response(out.getvalue(), media_type="image/svg+xml", headers=SECURITY_HEADERS))


@router.get("/me/licences/{identifier}/live.svg")
def my_live_code(
    identifier: str,
    h: Annotated[
        HolderPage, Depends(HolderGuard(answer="refuse", refusal="sign in to show a live code"))
    ],
) -> Response:
    """A fresh presentation (valid 90 s) as a QR code: the page asks for one every 60 s."""
    made = h.w.svc.holder.present(h.me, identifier)
    svg = presentation_svg(made.text, title="动态亮证码 Live presentation code")
    headers = {**SECURITY_HEADERS, "X-Presentation-Not-After": made.not_after.isoformat()}
    return h.w.finish(Response(svg, media_type="image/svg+xml", headers=headers))


# -- grants --------------------------------------------------------------------------------------


@router.post("/me/grants")
def make_grant(
    h: Annotated[HolderPage, Depends(_form("/me/licences/{identifier}"))],
    identifier: Annotated[str, Form()],
    purpose: Annotated[str, Form()],
    days: Annotated[int, Form(ge=1, le=366)],
    grantee_kind: Annotated[str, Form()] = "hall",
    hall: Annotated[str, Form()] = "",
    case: Annotated[str, Form()] = "",
    holder_id_type: Annotated[str, Form(max_length=3)] = "",
    holder_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    w = h.w
    kind = parse_grantee_kind(grantee_kind, field="grantee_kind")
    refs = {
        GranteeKind.HALL: hall,
        GranteeKind.CASE: case,
        GranteeKind.HOLDER: f"{holder_id_type}:{holder_id.strip()}",
    }
    now = w.svc.clock()
    grant = w.svc.holder.grant(
        h.me,
        identifier=identifier,
        grantee_kind=kind,
        grantee=refs[kind],
        purpose=purpose,
        valid_until=now + dt.timedelta(days=days),
    )
    return w.redirect(f"/me/licences/{grant.identifier}?done=granted")


@router.get("/me/grants")
def my_grants(h: Me) -> Response:
    w = h.w
    names = type_names(w.svc, h.me)
    grants = grant_views(w.svc.holder.grants(h.me), w.svc, names, w.svc.clock())
    return w.page("portal/grants.html", grants=grants, tab="grants", back="/me/grants")


@router.post("/me/grants/{grant_id}/withdraw")
def withdraw_grant(
    grant_id: str,
    h: Annotated[HolderPage, Depends(_form("/me/grants"))],
    back: Annotated[str, Form()] = "/me/grants",
) -> Response:
    h.w.svc.holder.withdraw(h.me, grant_id)
    target = safe_next(back, default="/me/grants")
    return h.w.redirect(target + ("?done=withdrawn" if target.startswith("/me/licences/") else ""))


# -- usage and tokens ----------------------------------------------------------------------------


@router.get("/me/usage")
def my_usage(h: Me) -> Response:
    w = h.w
    names = type_names(w.svc, h.me)
    usage = usage_views(w.svc.holder.usage(h.me), names)
    return w.page("portal/usage.html", usage=usage, tab="usage", show_licence=True)


def _tokens_page(h: HolderPage, new_key: str | None = None) -> Response:
    tokens = h.w.svc.holder.tokens(h.me)
    return h.w.page("portal/tokens.html", tokens=tokens, new_key=new_key, tab="tokens")


@router.get("/me/tokens")
def my_tokens(h: Me) -> Response:
    return _tokens_page(h)


@router.post("/me/tokens")
def new_token(
    h: Annotated[HolderPage, Depends(_form("/me/tokens"))], name: Annotated[str, Form()]
) -> Response:
    made = h.w.svc.holder.new_token(h.me, name=name)
    return _tokens_page(h, new_key=made.api_key)


@router.post("/me/tokens/{token_id}/disable")
def disable_token(
    token_id: str, h: Annotated[HolderPage, Depends(_form("/me/tokens"))]
) -> Response:
    h.w.svc.holder.disable_token(h.me, token_id)
    return h.w.redirect("/me/tokens")
