"""Request and response schemas of the public HTTP contract (``/api/v1``).

Request schemas check shape only; the rules (check characters, catalogue, validity) are the
domain's, so the API, the CLI and the batch path refuse the same things with the same words.
An issuance request is the exception that proves it: its whole shape *is* the domain's rule
(``issuer/validation.check_request`` names every field it refuses), so one licence and each item
of a batch reach it as the JSON object the client sent, parsed once; :class:`IssuanceIn` and
:class:`BatchIn` describe that object in the OpenAPI document only (:func:`documented_as`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from elicence.domain.catalogue import Catalogue, LicenceType
from elicence.domain.inputs import FIRST_DAY, LAST_DAY, MAX_ROW_ID
from elicence.domain.licence import Licence, china_today, mask_id, mask_name
from elicence.formats.catalogue_file import department_to_dict, licence_type_to_dict
from elicence.formats.seal import SealedLicence
from elicence.verifier import Verdict, VerificationReport

# The largest offset or position a query may name: beyond any registry's size, and small enough
# for every database integer (a larger one would fail in the driver, not in validation).
MAX_POSITION = 2**53
# A row id or sequence number a caller names is compared with an INTEGER column: 32 bits on
# PostgreSQL (domain/inputs.MAX_ROW_ID).
ROW_ID_MAX = MAX_ROW_ID


def _day(value: dt.date) -> dt.date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"must be a date between {FIRST_DAY} and {LAST_DAY}")
    return value


def _instant(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("must be ISO 8601 with a time zone")
    _day(value.date())
    _day(value.astimezone(dt.UTC).date())  # within the bounds: cannot overflow
    return value


# A date or an instant a caller sends: within what the calendar and both databases hold, far
# from the ends where date arithmetic and time-zone conversion overflow (docs/abuse.md).
Day = Annotated[dt.date, AfterValidator(_day)]
Instant = Annotated[dt.datetime, AfterValidator(_instant)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HolderIn(_In):
    name: str = Field(examples=["广州市天河区某某餐饮管理有限公司"])
    id_type: str = Field(
        description="holder id type code: 001 USCC, 111 resident ID, …", examples=["001"]
    )
    id_number: str = Field(examples=["91440101MA59TK3R7Y"])


class IssuanceIn(_In):
    source_ref: str = Field(
        description="the department's own reference; retries reuse it",
        examples=["GZ-SCJ-2026-000123"],
    )
    type_code: str = Field(examples=["11100000000013338W011"])
    licence_number: str = Field(description="the paper licence's number (证照编号)")
    holder: HolderIn
    valid_from: str = Field(description="YYYY-MM-DD", examples=["2026-11-28"])
    valid_until: str | None = Field(
        default=None, description="YYYY-MM-DD; leave out where the validity rule fixes it"
    )
    data: dict[str, str | int] = Field(
        default_factory=dict, description="the type's data items by name"
    )


class BatchIn(_In):
    """A batch as the OpenAPI document describes it."""

    items: Annotated[list[IssuanceIn], Field(min_length=1, max_length=1000)]


class BatchRaw(_In):
    """A batch as the API reads it: up to 1,000 JSON objects, each checked on its own."""

    items: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)]


DOCUMENTED_BODIES: tuple[type[BaseModel], ...] = (IssuanceIn, BatchIn)


def documented_as(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body raw but documents it as ``model``
    (the model is added to the document's components by ``api.app``)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def add_documented_bodies(
    document: dict[str, Any], models: Iterable[type[BaseModel]] = DOCUMENTED_BODIES
) -> None:
    """Put ``models`` (the bodies routes read raw but document, :func:`documented_as`) into an
    OpenAPI document's components, and make each such body refer to its model alone."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema", {})
            if "$ref" in body:  # FastAPI merged the raw dict's own schema beside the $ref
                content["application/json"]["schema"] = {"$ref": body["$ref"]}


class VerifyIn(_In):
    seal: str | None = Field(
        default=None, max_length=8000, description="seal text EL1:… or the whole QR URL"
    )
    identifier: str | None = Field(
        default=None, max_length=200, description="a GB/T 36904 identifier"
    )


class HolderOut(BaseModel):
    name: str
    id_type: str
    id_number: str


class LicenceOut(BaseModel):
    identifier: str
    type_code: str
    type_name: str | None
    department: str
    licence_number: str
    holder: HolderOut
    valid_from: dt.date
    valid_until: dt.date | None
    status: str
    version: int
    issued_at: dt.datetime
    data: dict[str, str]
    seal: str
    verification_url: str
    superseded_by: str | None = None
    status_index: int | None = None  # its bit in the department's status lists


class IssuedOut(LicenceOut):
    created: bool


class BatchItemOut(BaseModel):
    index: int
    outcome: str  # created | existing | error
    identifier: str | None = None
    seal: str | None = None
    verification_url: str | None = None
    status: str | None = None
    version: int | None = None
    error: dict[str, Any] | None = None


class BatchOut(BaseModel):
    created: int
    existing: int
    failed: int
    results: list[BatchItemOut]


class CheckOut(BaseModel):
    name: str
    passed: bool
    detail: str


class SealedLicenceOut(BaseModel):
    identifier: str
    type_code: str
    type_name: str | None
    licence_number: str
    holder_name: str
    holder_id: str
    holder_id_type: str
    issuer: str | None
    issuer_name: str | None
    issued_at: dt.datetime | None
    valid_from: dt.date
    valid_until: dt.date | None
    version: int
    data: dict[str, str]
    status_index: int | None = None


class VerificationOut(BaseModel):
    verdict: Verdict = Field(
        description="valid; or why not, gravest first: invalid, untrusted, "
        "unsupported_algorithm, not_found, revoked, "
        "superseded, suspended, expired, indeterminate, not_yet_valid (genuine and in good "
        "standing, in force from licence.valid_from) — docs/formats.md §5"
    )
    checks: list[CheckOut]
    licence: SealedLicenceOut | None
    checked_at: dt.datetime
    status_checked: bool
    superseded_by: str | None = None
    masked: bool


def licence_out(
    lic: Licence, *, catalogue: Catalogue, url: str, now: dt.datetime
) -> dict[str, Any]:
    lt = catalogue.licence_types.get(lic.type_code)
    return {
        "identifier": lic.identifier,
        "type_code": lic.type_code,
        "type_name": lt.name_zh if lt else None,
        "department": lic.department_uscc,
        "licence_number": lic.licence_number,
        "holder": {
            "name": lic.holder.name,
            "id_type": str(lic.holder.id_type),
            "id_number": lic.holder.id_number,
        },
        "valid_from": lic.valid_from,
        "valid_until": lic.valid_until,
        "status": lic.effective_status(china_today(now)),
        "version": lic.version,
        "issued_at": lic.issued_at,
        "data": dict(lic.data),
        "seal": lic.seal,
        "verification_url": url,
        "superseded_by": lic.superseded_by,
        "status_index": lic.status_index,
    }


def verification_out(
    report: VerificationReport, *, catalogue: Catalogue, masked: bool
) -> VerificationOut:
    lic: SealedLicence | None = report.licence
    licence = None
    if lic is not None:
        lt = catalogue.licence_types.get(lic.type_code)
        dept = catalogue.departments.get(report.issuer or "")
        licence = SealedLicenceOut(
            identifier=lic.identifier,
            type_code=lic.type_code,
            type_name=lt.name_zh if lt else None,
            licence_number=lic.licence_number,
            holder_name=mask_name(lic.holder_name) if masked else lic.holder_name,
            holder_id=mask_id(lic.holder_id) if masked else lic.holder_id,
            holder_id_type=lic.holder_id_type,
            issuer=report.issuer,
            issuer_name=dept.name_zh if dept else None,
            issued_at=report.issued_at,
            valid_from=lic.valid_from,
            valid_until=lic.valid_until,
            version=lic.version,
            data=_data(
                lic,
                lt,
                natural_person=bool(lt and lt.holder_category == "natural_person"),
                masked=masked,
            ),
            status_index=lic.status_index,
        )
    return VerificationOut(
        verdict=report.verdict,
        checks=[CheckOut(name=c.name, passed=c.passed, detail=c.detail) for c in report.checks],
        licence=licence,
        checked_at=report.checked_at,
        status_checked=report.status_checked,
        superseded_by=report.superseded_by,
        masked=masked,
    )


def verification_json(report: VerificationReport, *, catalogue: Catalogue, masked: bool) -> bytes:
    """:func:`verification_out` serialised, byte for byte as ``model_dump_json`` would, without
    building and validating the models (the hot path of ``POST /api/v1/verify``): the same keys
    in the same order, the same values; times in UTC end in ``Z`` as pydantic writes them."""
    lic: SealedLicence | None = report.licence
    licence = None
    if lic is not None:
        lt = catalogue.licence_types.get(lic.type_code)
        dept = catalogue.departments.get(report.issuer or "")
        licence = {
            "identifier": lic.identifier,
            "type_code": lic.type_code,
            "type_name": lt.name_zh if lt else None,
            "licence_number": lic.licence_number,
            "holder_name": mask_name(lic.holder_name) if masked else lic.holder_name,
            "holder_id": mask_id(lic.holder_id) if masked else lic.holder_id,
            "holder_id_type": lic.holder_id_type,
            "issuer": report.issuer,
            "issuer_name": dept.name_zh if dept else None,
            "issued_at": report.issued_at,
            "valid_from": lic.valid_from,
            "valid_until": lic.valid_until,
            "version": lic.version,
            "data": _data(
                lic,
                lt,
                natural_person=bool(lt and lt.holder_category == "natural_person"),
                masked=masked,
            ),
            "status_index": lic.status_index,
        }
    return orjson.dumps(
        {
            "verdict": report.verdict,
            "checks": [
                {"name": c.name, "passed": c.passed, "detail": c.detail} for c in report.checks
            ],
            "licence": licence,
            "checked_at": report.checked_at,
            "status_checked": report.status_checked,
            "superseded_by": report.superseded_by,
            "masked": masked,
        },
        option=orjson.OPT_UTC_Z,
    )


def _data(
    lic: SealedLicence, lt: LicenceType | None, *, natural_person: bool, masked: bool
) -> dict[str, str]:
    """Seal data items by name; masked for anonymous callers where they describe persons."""
    out = {}
    for key, value in lic.data.items():
        item = lt.item_by_seal_key(key) if lt else None
        out[item.name if item else str(key)] = (
            mask_name(value) if masked and natural_person else value
        )
    return out


def catalogue_types_out(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [licence_type_to_dict(t) for t in catalogue.licence_types.values()]


def departments_out(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [department_to_dict(d) for d in catalogue.departments.values()]
