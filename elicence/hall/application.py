"""Turn a raw application (JSON-shaped, plus uploaded files) into a checked one.

Every rule failure raises an :class:`~elicence.errors.Error` naming the field as the client sent
it (``form.business_premises``, ``licences[1].seal``, ``uploads.premises_layout``): 422 for a
broken rule, 413 for an upload over its material's limit, 403 for applying as someone else.
Nothing here touches the registry or the verifier: the cited e-licences are checked afterwards,
by the use case, through its :class:`~elicence.hall.ports.CitationChecker`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elicence.domain.clients import Client, Role
from elicence.domain.codes import parse_identifier
from elicence.domain.inputs import form_text
from elicence.domain.licence import HolderRef, holder_ref
from elicence.errors import InputError, PayloadTooLargeError, PermissionDeniedError
from elicence.hall.cases import Applicant, Channel, UploadIn
from elicence.hall.items import (
    FormField,
    LicenceMaterial,
    ServiceItem,
    UploadMaterial,
    applicant_category,
)
from elicence.hall.workflow import MAX_REASON

APPLICATION_FIELDS = frozenset({"item_code", "applicant", "form", "licences", "reuse"})
SUPPLEMENT_FIELDS = frozenset({"form", "licences", "reuse", "note"})
MAX_CITATIONS = 20
MAX_SEAL_LENGTH = 8000
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
# What each allowed content type must start with (the declared type is never trusted alone).
MAGIC: Mapping[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


@dataclass(frozen=True, slots=True)
class CitationIn:
    """An e-licence the application cites for a material, not yet verified."""

    index: int  # its place in ``licences`` (for error fields)
    material: LicenceMaterial
    seal: str | None
    identifier: str | None


@dataclass(frozen=True, slots=True)
class CheckedApplication:
    item: ServiceItem
    applicant: Applicant
    channel: Channel
    form: dict[str, str]
    citations: tuple[CitationIn, ...]
    uploads: tuple[tuple[UploadIn, str], ...]  # each upload with its safe file name


def reason(value: object, *, required: bool, field: str = "reason") -> str:
    """Why a step was taken (shown to the applicant), a note or a comment: text of at most
    :data:`~elicence.hall.workflow.MAX_REASON` characters; "" when optional and not given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError("is required: say why (it is shown to the applicant)", field=field)
        return ""
    return form_text(value, field=field, max_length=MAX_REASON)


def check_application(
    raw: object,
    *,
    item: ServiceItem,
    client: Client,
    channel: Channel,
    uploads: Sequence[UploadIn],
) -> CheckedApplication:
    """Check every field of an application for ``item``; raise on the first rule broken."""
    if not isinstance(raw, Mapping):
        raise InputError("the application must be a JSON object", field=None)
    unknown = set(raw) - APPLICATION_FIELDS
    if unknown:
        raise InputError("is not a field of an application", field=sorted(unknown)[0])
    applicant = applicant_of(raw, client=client, channel=channel, item=item)
    form = check_form(raw.get("form"), item, partial=False)
    citations = check_citations(raw.get("licences"), item, partial=False)
    checked_uploads = check_uploads(uploads, item, partial=False)
    return CheckedApplication(item, applicant, channel, form, citations, checked_uploads)


def applicant_of(
    application: Mapping[str, Any], *, client: Client, channel: Channel, item: ServiceItem
) -> Applicant:
    """The applicant of an application: the holder itself online, the one named at a window."""
    return _applicant(application.get("applicant"), client=client, channel=channel, item=item)


def _applicant(raw: object, *, client: Client, channel: Channel, item: ServiceItem) -> Applicant:
    if raw is not None and not isinstance(raw, Mapping):
        raise InputError("must be an object with name, id_type and id_number", field="applicant")
    given: Mapping[str, Any] = raw or {}
    unknown = set(given) - {"name", "id_type", "id_number"}
    if unknown:
        raise InputError("is not an applicant field", field=f"applicant.{sorted(unknown)[0]}")
    ref: HolderRef
    if channel is Channel.ONLINE:
        if client.role is not Role.HOLDER or client.holder is None:
            raise PermissionDeniedError("only a holder applies online for itself")
        ref = client.holder
        if "id_type" in given or "id_number" in given:
            asked = holder_ref(given.get("id_type"), given.get("id_number"), field="applicant")
            if asked != ref:
                raise PermissionDeniedError(
                    "an applicant applies for itself: the applicant is the holder this client "
                    "acts for",
                    field="applicant",
                    code="not_applicant",
                )
        # the name given, else the sign-in identity's; an API key's name is only its label (an
        # empty name is resolved by the use case, from the registry's licences of the holder)
        name = form_text(
            given.get("name") or client.holder_name,
            field="applicant.name",
            max_length=200,
            required=False,
        )
    else:
        ref = holder_ref(given.get("id_type"), given.get("id_number"), field="applicant")
        name = form_text(given.get("name"), field="applicant.name", max_length=200)
    category = applicant_category(ref.id_type)
    if category is not None and category not in item.audience:
        who = "个人办事 (natural persons)" if "natural_person" in item.audience else "企业办事"
        raise InputError(
            f"item {item.code} ({item.name_zh}) is for {who}; id type {ref.id_type} is not",
            field="applicant.id_type",
        )
    return Applicant(ref, name)


def check_form(raw: object, item: ServiceItem, *, partial: bool) -> dict[str, str]:
    """The form's values by field name (``partial``: only the fields given, for a supplement)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InputError("must be an object keyed by form field names", field="form")
    for key in raw:
        if item.form_field(str(key)) is None:
            raise InputError(f"is not a form field of item {item.code}", field=f"form.{key}")
    out: dict[str, str] = {}
    fields: Sequence[FormField] = item.form
    for f in fields:
        if partial and f.name not in raw:
            continue
        value = form_text(
            raw.get(f.name), field=f"form.{f.name}", max_length=f.max_length, required=f.required
        )
        if value:
            out[f.name] = value
    return out


def check_citations(raw: object, item: ServiceItem, *, partial: bool) -> tuple[CitationIn, ...]:
    """The e-licences cited, one per licence material; every required one when not ``partial``."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise InputError(
            "must be a list of {material, seal} or {material, identifier}", field="licences"
        )
    if len(raw) > MAX_CITATIONS:
        raise InputError(f"has {len(raw)} items, at most {MAX_CITATIONS}", field="licences")
    out: list[CitationIn] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"licences[{i}]"
        if not isinstance(entry, Mapping):
            raise InputError(
                "must be an object {material, seal} or {material, identifier}", field=where
            )
        unknown = set(entry) - {"material", "seal", "identifier"}
        if unknown:
            raise InputError(
                "is not a field of a cited licence", field=f"{where}.{sorted(unknown)[0]}"
            )
        name = entry.get("material")
        material = item.material(name) if isinstance(name, str) else None
        if material is None:
            raise InputError(f"is not a material of item {item.code}", field=f"{where}.material")
        if not isinstance(material, LicenceMaterial):
            raise InputError(
                f"material {material.name!r} ({material.label_zh}) is an upload, not an e-licence",
                field=f"{where}.material",
            )
        if material.name in seen:
            raise InputError(
                f"material {material.name!r} is cited twice", field=f"{where}.material"
            )
        seen.add(material.name)
        seal, identifier = entry.get("seal"), entry.get("identifier")
        if (seal is None) == (identifier is None):
            raise InputError("give exactly one of seal and identifier", field=f"{where}.seal")
        if seal is not None and (not isinstance(seal, str) or not 0 < len(seal) <= MAX_SEAL_LENGTH):
            raise InputError(
                f"must be seal text or a QR URL of at most {MAX_SEAL_LENGTH} characters",
                field=f"{where}.seal",
            )
        if identifier is not None:
            identifier = str(parse_identifier(identifier, field=f"{where}.identifier"))
        out.append(CitationIn(i, material, seal, identifier))
    if not partial:
        for m in item.materials:
            if isinstance(m, LicenceMaterial) and m.required and m.name not in seen:
                raise InputError(
                    f"material {m.name!r} ({m.label_zh}) is required: cite the e-licence "
                    "(its seal or identifier); no paper original is asked",
                    field="licences",
                )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ReuseIn:
    """An upload the applicant handed in before, named by its SHA-256, for a material."""

    index: int  # its place in ``reuse`` (for error fields)
    material: UploadMaterial
    sha256: str


def check_reuse(raw: object, item: ServiceItem) -> tuple[ReuseIn, ...]:
    """``reuse``: a list of ``{material, sha256}``, an earlier upload of the applicant's for each
    upload material (已提交过的电子材料无需重复提交); the bytes are found by the use case."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError("must be a list of {material, sha256}", field="reuse")
    if len(raw) > MAX_CITATIONS:
        raise InputError(f"has {len(raw)} items, at most {MAX_CITATIONS}", field="reuse")
    out: list[ReuseIn] = []
    for i, entry in enumerate(raw):
        where = f"reuse[{i}]"
        if not isinstance(entry, Mapping):
            raise InputError("must be an object {material, sha256}", field=where)
        unknown = set(entry) - {"material", "sha256"}
        if unknown:
            raise InputError("is not a field of a reused upload", field=f"{where}.{min(unknown)}")
        name = entry.get("material")
        material = item.material(name) if isinstance(name, str) else None
        if not isinstance(material, UploadMaterial):
            raise InputError(
                f"is not an upload material of item {item.code}", field=f"{where}.material"
            )
        sha = entry.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise InputError(
                "must be the 64 lower-case hexadecimal digits of a SHA-256",
                field=f"{where}.sha256",
            )
        out.append(ReuseIn(i, material, sha))
    return tuple(out)


def check_uploads(
    uploads: Sequence[UploadIn], item: ServiceItem, *, partial: bool
) -> tuple[tuple[UploadIn, str], ...]:
    """Each upload checked against its material: type (declared and by content), size, name."""
    out: list[tuple[UploadIn, str]] = []
    seen: set[str] = set()
    for up in uploads:
        where = f"uploads.{up.material}"
        material = item.material(up.material)
        if material is None:
            raise InputError(f"is not a material of item {item.code}", field=where)
        if isinstance(material, LicenceMaterial):
            raise InputError(
                f"material {material.name!r} ({material.label_zh}) is satisfied by citing the "
                "e-licence; no copy of the paper licence is taken",
                field=where,
            )
        if material.name in seen:
            raise InputError("is uploaded twice", field=where)
        seen.add(material.name)
        check_upload(up, material)
        out.append((up, safe_filename(up.filename, up.content_type)))
    if not partial:
        for m in item.materials:
            if isinstance(m, UploadMaterial) and m.required and m.name not in seen:
                raise InputError(
                    f"material {m.name!r} ({m.label_zh}) is required: upload it",
                    field=f"uploads.{m.name}",
                )
    return tuple(out)


def check_upload(up: UploadIn, material: UploadMaterial) -> None:
    where = f"uploads.{up.material}"
    if len(up.content) > material.max_bytes:
        raise PayloadTooLargeError(
            f"is {len(up.content):,} bytes; {material.label_zh} allows at most "
            f"{material.max_bytes:,}",
            field=where,
        )
    if not up.content:
        raise InputError("is empty", field=where)
    declared = up.content_type.split(";")[0].strip().lower()
    if declared not in material.content_types:
        raise InputError(
            f"is {declared or 'of no type'}; {material.label_zh} takes "
            f"{', '.join(material.content_types)}",
            field=where,
            code="unsupported_upload_type",
        )
    if not up.content.startswith(MAGIC[declared]):
        raise InputError(
            f"is declared {declared} but its content is not one",
            field=where,
            code="unsupported_upload_type",
        )


def safe_filename(name: str, content_type: str) -> str:
    """A file name for display only (never a path): no directories, no control characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", base)).strip(" .")[:120]
    if not base:
        base = "upload" + {"application/pdf": ".pdf", "image/png": ".png"}.get(content_type, ".jpg")
    return base
