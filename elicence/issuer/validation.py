"""Turn a raw issuance request (JSON-shaped), or a use case's typed :class:`LicenceDraft`, into a
checked :class:`IssuanceRequest`, by the same rules.

Each rule failure raises :class:`InputError` (malformed), :class:`CatalogueError` (unknown type)
or :class:`PermissionDeniedError` (the department may not issue the type), naming the field as a
client sent it (``holder.id_number``, ``data.legal_representative``) or, for a draft, as the
caller's :class:`DraftFields` name it (the hall's ``form.legal_representative``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from elicence.domain.catalogue import (
    Catalogue,
    Department,
    HolderCategory,
    HolderIdType,
    ItemType,
    LicenceType,
)
from elicence.domain.codes import check_resident_id, check_type_code, check_uscc, new_serial
from elicence.domain.inputs import check_day, form_text
from elicence.domain.licence import (
    DraftFields,
    Holder,
    IssuanceRequest,
    LicenceDraft,
    check_holder_id,
    parse_holder_id_type,
)
from elicence.errors import InputError, PermissionDeniedError

_SOURCE_REF_RE = re.compile(r"[\x21-\x7e]{1,128}")
_DIGITS = re.compile(r"[0-9]{1,18}")
REQUEST_FIELDS = frozenset(
    {"source_ref", "type_code", "licence_number", "holder", "valid_from", "valid_until", "data"}
)


def _date(value: object, *, field: str) -> dt.date:
    if isinstance(value, dt.date):  # a draft's typed date
        return check_day(value, field=field)
    if not isinstance(value, str):
        raise InputError("must be a date YYYY-MM-DD", field=field)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value!r} is not a date YYYY-MM-DD", field=field) from None
    return check_day(day, field=field)


def check_holder(raw: object, licence_type: LicenceType, *, field: str = "holder") -> Holder:
    """A request's ``holder`` object, or a draft's :class:`Holder`, checked for the type."""
    if isinstance(raw, Holder):
        given: Mapping[str, Any] = {
            "name": raw.name,
            "id_type": raw.id_type,
            "id_number": raw.id_number,
        }
    elif isinstance(raw, Mapping):
        given = raw
    else:
        raise InputError("must be an object with name, id_type and id_number", field=field)
    unknown = set(given) - {"name", "id_type", "id_number"}
    if unknown:
        raise InputError("is not a holder field", field=f"{field}.{sorted(unknown)[0]}")
    name = form_text(given.get("name"), field=f"{field}.name", max_length=200)
    id_type = parse_holder_id_type(given.get("id_type"), field=f"{field}.id_type")
    category = id_type.category
    if category is not None and category is not licence_type.holder_category:
        who = "natural persons" if category is HolderCategory.NATURAL_PERSON else "organisations"
        raise InputError(
            f"id type {id_type} is for {who}; {licence_type.name_en} is issued to "
            f"{licence_type.holder_category.replace('_', ' ')}s",
            field=f"{field}.id_type",
        )
    raw_id = given.get("id_number")
    if id_type not in (HolderIdType.USCC, HolderIdType.RESIDENT_ID):
        # control characters and length (the ID rule below checks the number itself)
        raw_id = form_text(raw_id, field=f"{field}.id_number", max_length=64)
    id_number = check_holder_id(id_type, raw_id, field=f"{field}.id_number")
    return Holder(name=name, id_type=id_type, id_number=id_number)


def check_data(raw: object, licence_type: LicenceType, *, field: str = "data") -> dict[str, str]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InputError("must be an object keyed by data item names", field=field)
    for key in raw:
        if licence_type.item(str(key)) is None:
            raise InputError(
                f"is not a data item of {licence_type.name_en} ({licence_type.code})",
                field=f"{field}.{key}",
            )
    out: dict[str, str] = {}
    for item in licence_type.data_items:
        where = f"{field}.{item.name}"
        value = form_text(
            raw.get(item.name), field=where, max_length=item.max_length, required=item.required
        )
        if not value:
            continue
        if item.type is ItemType.DATE:
            value = _date(value, field=where).isoformat()
        elif item.type is ItemType.INTEGER and not _DIGITS.fullmatch(value):
            raise InputError("must be a whole number", field=where)
        elif item.type is ItemType.USCC:
            value = check_uscc(value, field=where)
        elif item.type is ItemType.ID_NUMBER:
            value = check_resident_id(value, field=where)
        out[item.name] = value
    return out


def check_request(
    raw: Mapping[str, Any], *, catalogue: Catalogue, department: Department
) -> IssuanceRequest:
    """Check every field of a raw request; raise on the first rule broken."""
    if not isinstance(raw, Mapping):
        raise InputError("the request must be a JSON object", field=None)
    unknown = set(raw) - REQUEST_FIELDS
    if unknown:
        raise InputError("is not a field of an issuance request", field=sorted(unknown)[0])
    return _checked(
        raw.get("source_ref"),
        raw.get("type_code"),
        raw.get("licence_number"),
        raw.get("holder"),
        raw.get("valid_from"),
        raw.get("valid_until"),
        raw.get("data"),
        catalogue=catalogue,
        department=department,
        names=DraftFields(),
    )


def check_draft(
    draft: LicenceDraft,
    *,
    catalogue: Catalogue,
    department: Department,
    names: DraftFields = DraftFields(),  # noqa: B008 - frozen
) -> IssuanceRequest:
    """Check a use case's draft by the rules of a request, its errors naming each part as
    ``names`` say. A draft without a licence number is numbered now (:func:`licence_number`)."""
    number = draft.licence_number
    if number is None:
        number = licence_number(department, draft.valid_from)
    return _checked(
        draft.source_ref,
        draft.type_code,
        number,
        draft.holder,
        draft.valid_from,
        draft.valid_until,
        draft.data,
        catalogue=catalogue,
        department=department,
        names=names,
    )


def licence_number(department: Department, valid_from: dt.date) -> str:
    """The number (证照编号) of a licence issued without one: the issuing department's division
    code, the year it is valid from and 10 characters 0-9A-Z from the CSPRNG
    (``440106`` ``2026`` ``7K3QX9M2PA``), as a department numbers its own."""
    return f"{department.division_code}{valid_from.year:04d}{new_serial()[:10]}"


def _checked(
    source_ref_: object,
    type_code_: object,
    licence_number_: object,
    holder_: object,
    valid_from_: object,
    valid_until_: object,
    data_: object,
    *,
    catalogue: Catalogue,
    department: Department,
    names: DraftFields,
) -> IssuanceRequest:
    """The rules of every field, in the order a request's errors are reported."""
    source_ref = form_text(source_ref_, field="source_ref", max_length=128)
    if not _SOURCE_REF_RE.fullmatch(source_ref):
        raise InputError(
            "must be 1-128 printable ASCII characters without spaces", field="source_ref"
        )
    type_code = check_type_code(type_code_)
    licence_type = catalogue.licence_type(type_code)
    if type_code not in department.licence_types:
        raise PermissionDeniedError(
            f"{department.name_zh} ({department.uscc}) may not issue {licence_type.name_zh} "
            f"({type_code}) under the catalogue",
            field="type_code",
            code="type_not_permitted",
        )
    number = form_text(licence_number_, field=names.licence_number, max_length=64)
    holder = check_holder(holder_, licence_type, field=names.holder)
    valid_from = _date(valid_from_, field=names.valid_from)
    try:
        last_day = licence_type.validity.last_day(valid_from)
    except (ValueError, OverflowError):
        last_day = dt.date.max  # beyond the calendar: refused just below
    if last_day is not None:
        last_day = check_day(last_day, field=names.valid_from)  # the rule's end, too, is bounded
    if licence_type.validity.long_term:
        if valid_until_ is not None:
            raise InputError(
                f"must be null: {licence_type.name_en} is long-term (validity rule 0/L)",
                field=names.valid_until,
            )
        valid_until = None
    elif valid_until_ is None:
        valid_until = last_day
    else:
        valid_until = _date(valid_until_, field=names.valid_until)
        if valid_until < valid_from:
            raise InputError(f"must not be before {names.valid_from}", field=names.valid_until)
        if last_day is not None and valid_until > last_day:
            raise InputError(
                f"must be at most {last_day} under the validity rule {licence_type.validity}",
                field=names.valid_until,
            )
    data = check_data(data_, licence_type, field=names.data)
    return IssuanceRequest(
        source_ref=source_ref,
        type_code=type_code,
        licence_number=number,
        holder=holder,
        valid_from=valid_from,
        valid_until=valid_until,
        data=data,
    )


# what json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")) makes,
# without making an encoder at every call
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def request_hash(request: IssuanceRequest) -> str:
    """A digest of the checked request: equal requests under one source_ref are retries."""
    canonical = {
        "source_ref": request.source_ref,
        "type_code": request.type_code,
        "licence_number": request.licence_number,
        "holder": [request.holder.name, str(request.holder.id_type), request.holder.id_number],
        "valid_from": request.valid_from.isoformat(),
        "valid_until": request.valid_until.isoformat() if request.valid_until else None,
        "data": dict(sorted(request.data.items())),
    }
    return hashlib.sha256(_CANONICAL(canonical).encode("utf-8")).hexdigest()
