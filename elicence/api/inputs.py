"""The text rule where HTTP input enters: every route is a :class:`CheckedRoute`.

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

import email.message
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import params
from fastapi.routing import APIRoute
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from elicence.domain import inputs
from elicence.domain.inputs import check_json

__all__ = ["CheckedRoute", "check_form", "check_json", "check_parameters", "check_upload_name"]


class CheckedRoute(APIRoute):
    """A route whose parameters and decoded body pass the text rule before the operation.

    ``reads_forms``: also check a URL-encoded form the operation reads itself (the pages).
    """

    reads_forms = False

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        body_field = self.body_field
        form_body = body_field is not None and isinstance(body_field.field_info, params.Form)
        json_body = body_field is not None and not form_body
        reads_forms = self.reads_forms

        async def checked(request: Request) -> Response:
            check_parameters(request)
            if json_body and _is_json(request):
                try:
                    value = await request.json()  # cached: the operation reads the same value
                except (ValueError, RecursionError):
                    pass  # not JSON (or nested past the parser): the operation answers 400
                else:
                    setattr(request, "_json", check_json(value))  # noqa: B010 (Starlette's cache)
            elif form_body or (reads_forms and _is_urlencoded(request)):
                form = await request.form()  # cached: the operation reads the same form
                setattr(request, "_form", check_form(form))  # noqa: B010 (Starlette's cache)
            return await handler(request)

        return checked


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


def _content_type(request: Request) -> tuple[str, str] | None:
    value = request.headers.get("content-type")
    if not value:
        return None
    message = email.message.Message()
    message["content-type"] = value
    return message.get_content_maintype(), message.get_content_subtype()


def _is_json(request: Request) -> bool:
    kind = _content_type(request)
    return (
        kind is not None
        and kind[0] == "application"
        and (kind[1] == "json" or kind[1].endswith("+json"))
    )


def _is_urlencoded(request: Request) -> bool:
    return _content_type(request) == ("application", "x-www-form-urlencoded")
