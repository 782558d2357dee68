"""The hall desk (窗口查验): scan a code (a barcode scanner, or the camera where the browser has
BarcodeDetector) or upload a signed PDF, and see the verdict with every check, itemised.

For a hall or an admin signed in with its API key. The code may be a live presentation (EP1),
a licence seal or its QR link (EL1), or an identifier. Every check leaves a usage record under the
hall's client, and the licence is shown in full only where the holder's grant allows it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from elicence.api.edge import edge
from elicence.api.routers.documents import MAX_UPLOAD_BYTES
from elicence.api.schemas import verification_out
from elicence.api.web import HtmlRoute, Web
from elicence.domain.clients import Role
from elicence.domain.licence import holder_ref
from elicence.errors import InputError, PayloadTooLargeError
from elicence.verifier.pdf import MAX_PDF_BYTES
from elicence.verifier.report import VerificationReport

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
DESK_ROLES = (Role.HALL, Role.ADMIN)

SUMMARY = {
    "valid": ("证照真实有效，可以采信。", "The licence is genuine and in force."),
    "accepted": ("亮证码有效。", "The presentation is good."),
    "expired": ("已过期，不能采信。", "Expired: do not rely on it."),
    "replayed": (
        "此亮证码已被使用过：请持证人出示实时亮证码。",
        "This code was used before: ask the holder for the live code.",
    ),
}


def _licence_rows(out: Any) -> list[tuple[str, str, str]]:
    lic = out.licence
    if lic is None:
        return []
    rows = [
        ("证照名称", "Licence", lic.type_name or lic.type_code),
        ("证照编号", "Number", lic.licence_number),
        ("持证主体", "Holder", lic.holder_name),
        ("证件号码", "Holder ID", lic.holder_id),
        ("发证机关", "Issued by", lic.issuer_name or lic.issuer or ""),
        ("有效期自", "Valid from", lic.valid_from.isoformat()),
        ("有效期至", "Valid until", lic.valid_until.isoformat() if lic.valid_until else "长期"),
        ("电子证照标识", "Identifier", lic.identifier),
    ]
    rows += [(name, name, value) for name, value in lic.data.items()]
    return [r for r in rows if r[2]]


@router.get("/desk")
def desk(request: Request) -> Response:
    w = Web(request)
    if w.client(*DESK_ROLES) is None:
        return w.to_signin("/desk")
    return w.page("desk/index.html", code="", holder_id="", holder_id_type="", result=None)


def _signed_in(request: Request) -> Response | None:
    """Before an upload is read: a request without a desk session goes to sign in."""
    w = Web(request)
    return w.to_signin("/desk") if w.client(*DESK_ROLES) is None else None


@router.post("/desk")
@edge(MAX_UPLOAD_BYTES, precheck=_signed_in)
async def desk_check(
    request: Request,
    csrf: Annotated[str, Form()],
    code: Annotated[str, Form()] = "",
    holder_id_type: Annotated[str, Form()] = "",
    holder_id: Annotated[str, Form()] = "",
    pdf: Annotated[UploadFile | None, File()] = None,
) -> Response:
    from starlette.concurrency import run_in_threadpool

    w = Web(request)
    w.check_csrf(csrf)
    client = w.client(*DESK_ROLES)
    if client is None:
        return w.to_signin("/desk")
    data = b""
    if pdf is not None and pdf.filename:
        data = await pdf.read(MAX_PDF_BYTES + 1)
        if len(data) > MAX_PDF_BYTES:
            raise PayloadTooLargeError(
                f"the upload is larger than {MAX_PDF_BYTES:,} bytes", field="pdf"
            )
    text = code.strip()
    if not data and not text:
        raise InputError("scan or paste a code, or upload a PDF", field="code")
    holder = None
    if holder_id.strip():
        holder = holder_ref(holder_id_type, holder_id, field="holder")

    def check() -> dict[str, Any]:
        svc = w.svc
        presentation = None
        if data:
            report: VerificationReport = svc.verification.verify_pdf(data, client=client)
            overall = str(report.verdict)
        elif text.upper().startswith("EP1:") or "#EP1:" in text.upper():
            p = svc.holder.verify_presentation(text, client=client, holder=holder)
            report, presentation = p.seal, p
            overall = str(report.verdict) if p.verdict == "accepted" else str(p.verdict)
        elif text.startswith("1.2.156.3005.2."):
            report = svc.verification.verify(identifier=text, client=client)
            overall = str(report.verdict)
        else:
            report = svc.verification.verify(seal=text, client=client)
            overall = str(report.verdict)
        masked = svc.holder.masked(client, report)
        out = verification_out(report, catalogue=svc.catalogue(), masked=masked)
        summary = SUMMARY.get(overall, ("不能采信。", "Do not rely on it."))
        if overall == str(report.verdict) == "not_yet_valid" and report.licence is not None:
            start = report.licence.valid_from.isoformat()
            summary = (
                f"证照真实，自 {start} 起生效；目前尚未生效，今日不能采信。",
                f"Genuine, in force from {start}: not in force yet, do not rely on it today.",
            )
        return {
            "overall": overall,
            "summary_zh": summary[0],
            "summary_en": summary[1],
            "presentation": list(presentation.checks) if presentation else None,
            "checks": list(report.checks),
            "licence": _licence_rows(out),
            "masked": masked,
            "checked_at": report.checked_at,
        }

    result = await run_in_threadpool(check)
    return w.page(
        "desk/index.html",
        code="",
        holder_id=holder_id,
        holder_id_type=holder_id_type,
        result=result,
    )
