"""The catalogue file: YAML in, a checked :class:`~elicence.domain.catalogue.Catalogue` out.

Every error names the line of the file and the field (``licence_types[2].data_items[0].max_length``)
so whoever edits the catalogue can find the fault. The file format is documented in
``docs/catalogue.md``; ``elicence/data/demo_catalogue.yaml`` is the demo for Guangdong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from elicence.domain.catalogue import (
    Catalogue,
    DataItem,
    Department,
    HolderCategory,
    IssuerLevel,
    ItemType,
    LicenceType,
    SignatureAlgorithm,
    ValidityRule,
    check_item_name,
)
from elicence.domain.codes import check_type_code, check_uscc
from elicence.errors import CatalogueUnavailableError
from elicence.formats.yamlfile import (
    FILE_MODEL,
    DepartmentIn,
    Text,
    from_stored,
    parse_yaml,
    read_file,
    rule,
)


class _Model(BaseModel):
    model_config = FILE_MODEL


DEMO_CATALOGUE = Path(__file__).parent.parent / "data" / "demo_catalogue.yaml"


class _DataItemIn(_Model):
    name: str
    label_zh: Text
    label_en: Text
    type: ItemType = ItemType.TEXT
    required: bool = True
    max_length: Annotated[int, Field(ge=1, le=2000)] = 64
    in_seal: bool = False
    seal_key: Annotated[int, Field(ge=1, le=23)] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return rule(check_item_name, v)


class _AuthorityIn(_Model):
    name: Text
    uscc: str

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, v: str) -> str:
        return rule(check_uscc, v)


class _LicenceTypeIn(_Model):
    code: str
    name_zh: Text
    name_en: Text
    authority: _AuthorityIn
    holder_category: HolderCategory
    validity: str
    issuer_levels: Annotated[list[IssuerLevel], Field(min_length=1)]
    data_items: Annotated[list[_DataItemIn], Field(min_length=1, max_length=60)]
    template: Text = "default"
    english_labels: bool = True
    service_items: list[Text] = []
    version: Annotated[int, Field(ge=1)] = 1
    algorithm: SignatureAlgorithm = SignatureAlgorithm.ES256

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return rule(check_type_code, v)

    @field_validator("validity")
    @classmethod
    def _validity(cls, v: str) -> str:
        rule(ValidityRule.parse, v)
        return v


class _DepartmentIn(DepartmentIn):
    name_en: Text
    level: IssuerLevel
    licence_types: list[str] = Field(default_factory=list)


class _CatalogueIn(_Model):
    format: Literal["elicence-catalogue/1"]
    licence_types: list[_LicenceTypeIn]
    departments: list[_DepartmentIn]


def parse_catalogue(text: str, *, source: str = "<catalogue>") -> Catalogue:
    """Parse and check catalogue YAML text."""
    return parse_yaml(text, _CatalogueIn, _build, source=source, root_field="catalogue")


def _build(parsed: _CatalogueIn) -> Catalogue:
    return Catalogue.build(
        (_to_type(t) for t in parsed.licence_types),
        (_to_department(d) for d in parsed.departments),
    )


def load_catalogue(path: Path) -> Catalogue:
    """Read, parse and check a catalogue file."""
    return parse_catalogue(read_file(path, what="catalogue file"), source=str(path))


def _to_type(t: _LicenceTypeIn) -> LicenceType:
    return LicenceType(
        code=t.code,
        name_zh=t.name_zh,
        name_en=t.name_en,
        authority_name=t.authority.name,
        authority_uscc=t.authority.uscc,
        holder_category=t.holder_category,
        validity=ValidityRule.parse(t.validity),
        issuer_levels=tuple(t.issuer_levels),
        data_items=tuple(
            DataItem(
                name=i.name,
                label_zh=i.label_zh,
                label_en=i.label_en,
                type=i.type,
                required=i.required,
                max_length=i.max_length,
                in_seal=i.in_seal,
                seal_key=i.seal_key,
            )
            for i in t.data_items
        ),
        template=t.template,
        english_labels=t.english_labels,
        service_items=tuple(t.service_items),
        version=t.version,
        algorithm=t.algorithm,
    )


def _to_department(d: _DepartmentIn) -> Department:
    return Department(
        uscc=d.uscc,
        name_zh=d.name_zh,
        name_en=d.name_en,
        division_code=d.division_code,
        level=d.level,
        licence_types=tuple(d.licence_types),
    )


def catalogue_to_dict(catalogue: Catalogue) -> dict[str, Any]:
    """The catalogue as plain data in the file's shape (for storage and the API)."""
    return {
        "format": "elicence-catalogue/1",
        "licence_types": [licence_type_to_dict(t) for t in catalogue.licence_types.values()],
        "departments": [department_to_dict(d) for d in catalogue.departments.values()],
    }


def licence_type_to_dict(t: LicenceType) -> dict[str, Any]:
    return {
        "code": t.code,
        "name_zh": t.name_zh,
        "name_en": t.name_en,
        "authority": {"name": t.authority_name, "uscc": t.authority_uscc},
        "holder_category": str(t.holder_category),
        "validity": str(t.validity),
        "issuer_levels": [str(level) for level in t.issuer_levels],
        "data_items": [
            {
                "name": i.name,
                "label_zh": i.label_zh,
                "label_en": i.label_en,
                "type": str(i.type),
                "required": i.required,
                "max_length": i.max_length,
                "in_seal": i.in_seal,
                "seal_key": i.seal_key,
            }
            for i in t.data_items
        ],
        "template": t.template,
        "english_labels": t.english_labels,
        "service_items": list(t.service_items),
        "version": t.version,
        "algorithm": str(t.algorithm),
    }


def department_to_dict(d: Department) -> dict[str, Any]:
    return {
        "uscc": d.uscc,
        "name_zh": d.name_zh,
        "name_en": d.name_en,
        "division_code": d.division_code,
        "level": str(d.level),
        "licence_types": list(d.licence_types),
    }


def catalogue_from_dict(data: dict[str, Any]) -> Catalogue:
    """Rebuild a catalogue from :func:`catalogue_to_dict` output (as stored in the registry)."""
    return from_stored(
        _CatalogueIn, data, _build, what="catalogue", error=CatalogueUnavailableError
    )
