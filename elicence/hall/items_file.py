"""The service-item catalogue file: YAML in, a checked :class:`ItemCatalogue` out, and back.

Every error names the line of the file and the field (``items[2].materials[0].licence_type``),
as the licence catalogue file does. The format (``elicence-service-items/1``) is documented in
``docs/hall.md``; ``elicence/data/demo_service_items.yaml`` is the demo for Guangdong.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from elicence.domain.catalogue import HolderCategory
from elicence.domain.codes import check_type_code, check_uscc
from elicence.errors import CatalogueError
from elicence.formats.yamlfile import (
    FILE_MODEL,
    DepartmentIn,
    Text,
    from_stored,
    parse_yaml,
    read_file,
    rule,
)
from elicence.hall.items import (
    ITEM_CODE_RE,
    MAX_UPLOAD_BYTES,
    NAME_RE,
    SCENARIO_CODE_RE,
    UPLOAD_TYPES,
    FormField,
    HallDepartment,
    ItemCatalogue,
    ItemKind,
    LicenceMaterial,
    Scenario,
    ScoringWeights,
    ServiceItem,
    UploadMaterial,
)

FORMAT = "elicence-service-items/1"
DEMO_ITEMS = Path(__file__).parent.parent / "data" / "demo_service_items.yaml"

Keyword = Annotated[str, Field(min_length=1, max_length=20)]


class _Model(BaseModel):
    model_config = FILE_MODEL


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return check


_name = _pattern(NAME_RE, "lower-case ascii, digits and _ (at most 40), starting with a letter")
_item_code = _pattern(ITEM_CODE_RE, "4-40 characters 0-9, A-Z and -, starting with 0-9 or A-Z")
_scenario_code = _pattern(SCENARIO_CODE_RE, "2-40 characters a-z, 0-9 and -, starting with a-z")


class _FieldIn(_Model):
    name: str
    label_zh: Text
    required: bool = True
    max_length: Annotated[int, Field(ge=1, le=2000)] = 200

    @field_validator("name")
    @classmethod
    def _n(cls, v: str) -> str:
        return _name(v)


class _UploadIn(_Model):
    types: Annotated[
        list[Literal["application/pdf", "image/jpeg", "image/png"]], Field(min_length=1)
    ]
    max_kb: Annotated[int, Field(ge=1, le=MAX_UPLOAD_BYTES // 1024)] = 5120


class _MaterialIn(_Model):
    name: str
    label_zh: Text
    required: bool = True
    licence_type: str | None = None
    upload: _UploadIn | None = None

    @field_validator("name")
    @classmethod
    def _n(cls, v: str) -> str:
        return _name(v)

    @field_validator("licence_type")
    @classmethod
    def _type(cls, v: str | None) -> str | None:
        return None if v is None else rule(check_type_code, v)


class _ItemIn(_Model):
    code: str
    name_zh: Text
    department: str
    kind: ItemKind
    audience: Annotated[list[HolderCategory], Field(min_length=1, max_length=2)]
    depth: Annotated[int, Field(ge=1, le=3)]
    max_visits: Annotated[int, Field(ge=0, le=10)]
    promised_days: Annotated[int, Field(ge=0, le=365)]
    statutory_days: Annotated[int, Field(ge=1, le=365)]
    form: Annotated[list[_FieldIn], Field(max_length=60)] = []
    materials: Annotated[list[_MaterialIn], Field(max_length=40)] = []
    issues: str | None = None
    guided_by: str | None = None
    collaborating: list[str] = []
    keywords: Annotated[list[Keyword], Field(max_length=20)] = []

    @field_validator("code")
    @classmethod
    def _c(cls, v: str) -> str:
        return _item_code(v)

    @field_validator("department", "guided_by")
    @classmethod
    def _uscc(cls, v: str | None) -> str | None:
        return None if v is None else rule(check_uscc, v)

    @field_validator("collaborating")
    @classmethod
    def _others(cls, v: list[str]) -> list[str]:
        return [rule(check_uscc, c) for c in v]

    @field_validator("issues")
    @classmethod
    def _issues(cls, v: str | None) -> str | None:
        return None if v is None else rule(check_type_code, v)


class _ScenarioIn(_Model):
    code: str
    name_zh: Text
    description_zh: Annotated[str, Field(max_length=500)] = ""
    items: Annotated[list[str], Field(min_length=1)]

    @field_validator("code")
    @classmethod
    def _c(cls, v: str) -> str:
        return _scenario_code(v)

    @field_validator("items")
    @classmethod
    def _items(cls, v: list[str]) -> list[str]:
        return [_item_code(c) for c in v]


class _ScoringIn(_Model):
    from_: dt.date = Field(alias="from")
    capability: Annotated[float, Field(ge=0, le=1)]
    efficiency: Annotated[float, Field(ge=0, le=1)]
    satisfaction: Annotated[float, Field(ge=0, le=1)]


class _FileIn(_Model):
    format: Literal["elicence-service-items/1"]
    departments: Annotated[list[DepartmentIn], Field(min_length=1)]
    items: Annotated[list[_ItemIn], Field(min_length=1)]
    scenarios: list[_ScenarioIn] = []
    scoring: list[_ScoringIn] = []


def parse_items(text: str, *, source: str = "<service items>") -> ItemCatalogue:
    """Parse and check service-item catalogue YAML text."""
    return parse_yaml(text, _FileIn, _build, source=source, root_field="catalogue")


def load_items(path: Path) -> ItemCatalogue:
    """Read, parse and check a service-item catalogue file."""
    return parse_items(read_file(path, what="service-item file"), source=str(path))


def items_from_dict(data: dict[str, Any]) -> ItemCatalogue:
    """Rebuild a catalogue from :func:`items_to_dict` output (as stored in the registry)."""
    return from_stored(_FileIn, data, _build, what="service items")


def _build(parsed: _FileIn) -> ItemCatalogue:
    return ItemCatalogue.build(
        (HallDepartment(d.uscc, d.name_zh, d.division_code) for d in parsed.departments),
        [_to_item(it, i) for i, it in enumerate(parsed.items)],
        (Scenario(s.code, s.name_zh, tuple(s.items), s.description_zh) for s in parsed.scenarios),
        (
            ScoringWeights(s.from_, s.capability, s.efficiency, s.satisfaction)
            for s in parsed.scoring
        ),
    )


def _to_item(it: _ItemIn, i: int) -> ServiceItem:
    materials: list[LicenceMaterial | UploadMaterial] = []
    for j, m in enumerate(it.materials):
        if (m.licence_type is None) == (m.upload is None):
            raise CatalogueError(
                "a material is either a licence_type (cited as an e-licence) or an upload",
                field=f"items[{i}].materials[{j}]",
            )
        if m.licence_type is not None:
            materials.append(LicenceMaterial(m.name, m.label_zh, m.licence_type, m.required))
        else:
            assert m.upload is not None
            materials.append(
                UploadMaterial(
                    m.name, m.label_zh, tuple(m.upload.types), m.upload.max_kb * 1024, m.required
                )
            )
    return ServiceItem(
        code=it.code,
        name_zh=it.name_zh,
        department=it.department,
        kind=it.kind,
        audience=tuple(dict.fromkeys(it.audience)),
        depth=it.depth,
        max_visits=it.max_visits,
        promised_days=it.promised_days,
        statutory_days=it.statutory_days,
        form=tuple(FormField(f.name, f.label_zh, f.required, f.max_length) for f in it.form),
        materials=tuple(materials),
        issues=it.issues,
        guided_by=it.guided_by,
        collaborating=tuple(it.collaborating),
        keywords=tuple(it.keywords),
    )


def item_from_dict(data: dict[str, Any]) -> ServiceItem:
    """One item from :func:`item_to_dict` output (a case's snapshot of what it applied for)."""
    return from_stored(_ItemIn, data, lambda it: _to_item(it, 0), what="service item")


def item_to_dict(item: ServiceItem) -> dict[str, Any]:
    """One item in the file's shape (also its shape in the API)."""
    materials: list[dict[str, Any]] = []
    for m in item.materials:
        if isinstance(m, LicenceMaterial):
            materials.append(
                {
                    "name": m.name,
                    "label_zh": m.label_zh,
                    "required": m.required,
                    "licence_type": m.licence_type,
                }
            )
        else:
            materials.append(
                {
                    "name": m.name,
                    "label_zh": m.label_zh,
                    "required": m.required,
                    "upload": {"types": list(m.content_types), "max_kb": m.max_bytes // 1024},
                }
            )
    out: dict[str, Any] = {
        "code": item.code,
        "name_zh": item.name_zh,
        "department": item.department,
        "kind": str(item.kind),
        "audience": [str(a) for a in item.audience],
        "depth": item.depth,
        "max_visits": item.max_visits,
        "promised_days": item.promised_days,
        "statutory_days": item.statutory_days,
        "form": [
            {
                "name": f.name,
                "label_zh": f.label_zh,
                "required": f.required,
                "max_length": f.max_length,
            }
            for f in item.form
        ],
        "materials": materials,
        "issues": item.issues,
        "guided_by": item.guided_by,
        "collaborating": list(item.collaborating),
    }
    if item.keywords:  # written only when given: older snapshots and answers stay as they were
        out["keywords"] = list(item.keywords)
    return out


def items_to_dict(catalogue: ItemCatalogue) -> dict[str, Any]:
    """The catalogue as plain data in the file's shape (for storage and the API)."""
    return {
        "format": FORMAT,
        "departments": [
            {"uscc": d.uscc, "name_zh": d.name_zh, "division_code": d.division_code}
            for d in catalogue.departments.values()
        ],
        "items": [item_to_dict(i) for i in catalogue.items.values()],
        "scenarios": [
            {
                "code": s.code,
                "name_zh": s.name_zh,
                "description_zh": s.description_zh,
                "items": list(s.items),
            }
            for s in catalogue.scenarios.values()
        ],
        "scoring": [
            {
                "from": w.start.isoformat(),
                "capability": w.capability,
                "efficiency": w.efficiency,
                "satisfaction": w.satisfaction,
            }
            for w in catalogue.scoring
        ],
    }


__all__ = [
    "DEMO_ITEMS",
    "FORMAT",
    "UPLOAD_TYPES",
    "item_from_dict",
    "item_to_dict",
    "items_from_dict",
    "items_to_dict",
    "load_items",
    "parse_items",
]
