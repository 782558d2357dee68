"""HTTP: signed licence PDFs: download (owner department, admin), verification of an upload (anyone;
halls authenticated), and the root's CRL that department certificates point to.

``POST /api/v1/verify`` with a PDF upload (``multipart/form-data`` field ``file``, or an
``application/pdf`` body) is routed here by :class:`PdfUploadDispatch`; its JSON body path stays
in ``routers/verify.py``. Uploads are read by the edge (``api/edge.py``) up to
:data:`MAX_UPLOAD_BYTES`, never further (413 beyond it), after the verification is charged.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Receive, Scope, Send

from elicence.api.auth import RATE_LIMITED, OptionalClient, PublicLimit, RequiredClient, Service
from elicence.api.edge import Charge, EdgeRoute, edge
from elicence.api.schemas import VerificationOut, verification_out
from elicence.app.service import Elicence
from elicence.domain.clients import Client
from elicence.errors import InputError
from elicence.verifier.pdf import MAX_PDF_BYTES

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1", tags=["documents"])

VERIFY_PATH, VERIFY_PDF_PATH = "/api/v1/verify", "/api/v1/verify/pdf"
MAX_UPLOAD_BYTES = MAX_PDF_BYTES + 64 * 1024  # the PDF and its multipart envelope
PDF_TYPES = ("application/pdf", "application/octet-stream")

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "this client may not do this"},
    404: {"description": "no such licence for this client"},
}


@router.get(
    "/licences/{identifier}/pdf",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"application/pdf": {}}}},
)
def licence_pdf(identifier: str, client: RequiredClient, svc: Service) -> Response:
    """The licence as a signed PDF (PAdES), made at the first request and kept."""
    pdf = svc.licences.pdf(client, identifier)
    filename = re.sub(r"[^0-9A-Za-z.]", "", identifier) + ".pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/crl",
    response_class=Response,
    dependencies=[PublicLimit],
    responses={**RATE_LIMITED, 200: {"content": {"application/pkix-crl": {}}}},
)
def crl(svc: Service) -> Response:
    """The root's certificate revocation list (DER), signed when keys were made or rotated."""
    return Response(svc.keys.crl(), media_type="application/pkix-crl")


_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/verify/pdf",
    response_model=VerificationOut,
    openapi_extra=_UPLOAD_DOC,
    responses={
        **RATE_LIMITED,
        413: {"description": f"the upload is larger than {MAX_PDF_BYTES:,} bytes"},
        422: {"description": "not a PDF, or not a readable one"},
    },
)
@edge(MAX_UPLOAD_BYTES, charge=Charge.VERIFY_PDF)
async def verify_pdf(request: Request, client: OptionalClient, svc: Service) -> Any:
    """Verify a signed licence PDF: its signature, signer and seal, and the registry's status.

    Also served at ``POST /api/v1/verify`` for a ``multipart/form-data`` or PDF body. Charged to
    the verification limits (``pdf_cost`` tokens) before the upload is read.
    """
    data = await read_pdf_upload(request)
    return await run_in_threadpool(_verify, svc, data, client)


def _verify(svc: Elicence, data: bytes, client: Client | None) -> VerificationOut:
    report = svc.verification.verify_pdf(data, client=client)
    masked = svc.holder.masked(client, report)
    return verification_out(report, catalogue=svc.catalogue(), masked=masked)


async def read_pdf_upload(request: Request) -> bytes:
    """The uploaded PDF: a multipart field ``file`` or the whole body (read by the edge, up to
    :data:`MAX_UPLOAD_BYTES`)."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in PDF_TYPES:
        return bytes(body)
    if content_type != "multipart/form-data":
        raise InputError(
            "send the PDF as multipart/form-data field 'file' (or as an application/pdf body)",
            field="file",
        )

    async def replay() -> AsyncGenerator[bytes, None]:
        yield bytes(body)
        yield b""

    parser = MultiPartParser(request.headers, replay(), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise InputError(f"the multipart body is malformed: {e.message}", field="file") from e
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError("is required: a multipart file field holding the PDF", field="file")
        return await upload.read()
    finally:
        await form.close()


class PdfUploadDispatch:
    """ASGI middleware: ``POST /api/v1/verify`` carrying a PDF goes to ``/api/v1/verify/pdf``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == VERIFY_PATH:
            content_type = b""
            for name, value in scope["headers"]:
                if name == b"content-type":
                    content_type = value.split(b";")[0].strip().lower()
                    break
            if content_type == b"multipart/form-data" or content_type.decode() in PDF_TYPES:
                scope = {**scope, "path": VERIFY_PDF_PATH, "raw_path": VERIFY_PDF_PATH.encode()}
        await self.app(scope, receive, send)
