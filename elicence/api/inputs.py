"""HTTP: the text rule where HTTP input enters, called by every route (``api/edge.EdgeRoute``).

Before an operation runs, its path and query parameters, its decoded JSON body and its form
fields (names, text values and upload file names) pass the domain's one rule
(:mod:`elicence.domain.inputs`): valid Unicode, no control characters (tab, LF and CR only in
free-text fields), NFC, a length limit; JSON numbers and nesting bounded. A value that breaks
it is refused with 422 naming the field and the rule, before anything is stored; a value that
passes reaches the operation in NFC.

The check is independent of how the body was read: a route that reads its body itself (an
application with uploads, a PDF) calls :func:`check_json` / :func:`check_upload_name` on what
it decoded.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from elicence.domain import inputs
from elicence.domain.inputs import check_json

__all__ = ["check_form", "check_json", "check_parameters", "check_upload_name"]


def check_parameters(request: Request) -> None:
    """Path and query parameters (names and values) through the text rule; NFC in place."""
    path_params = request.scope.get("path_params") or {}
    for name, value in list(path_params.items()):
        if isinstance(value, str):
            path_params[name] = inputs.check_text(value, field=name, multiline=False)
    pairs = request.query_params.multi_items()
    checked = [
        (
            inputs.check_text(k, field="(a query parameter name)", max_length=inputs.MAX_KEY),
            inputs.check_text(v, field=k, multiline=False),
        )
        for k, v in pairs
    ]
    if checked != pairs:  # something was normalised: the operation reads the NFC form
        request.scope["query_string"] = urlencode(checked).encode("ascii")
        if hasattr(request, "_query_params"):
            delattr(request, "_query_params")


def check_form(form: FormData) -> FormData:
    """A form's field names, text values and upload file names through the text rule."""
    items: list[tuple[str, str | UploadFile]] = []
    for name, value in form.multi_items():
        key = inputs.check_text(name, field="(a form field name)", max_length=inputs.MAX_KEY)
        if isinstance(value, str):
            items.append((key, inputs.check_text(value, field=key)))
        else:
            check_upload_name(value, field=key)
            items.append((key, value))
    return FormData(items)


def check_upload_name(upload: UploadFile, *, field: str) -> None:
    """An upload's file name through the text rule (one line, at most 255 characters); NFC."""
    if upload.filename is not None:
        upload.filename = inputs.check_text(
            upload.filename, field=f"{field} (file name)", multiline=False, max_length=255
        )
