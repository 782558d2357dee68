"""Domain: the unified licence catalogue (电子证照目录): licence types and departments, as domain
values.

Invariants: a :class:`Catalogue` is checked whole when built: every code passes its check
character, every department's licence types exist, and each type's data item names are unique.
Parsing the catalogue file lives in :mod:`elicence.formats.catalogue_file`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from elicence.errors import CatalogueError, InputError


class HolderCategory(StrEnum):
    """Who a licence type is issued to."""

    NATURAL_PERSON = "natural_person"  # 自然人
    ORGANISATION = "organisation"  # 法人和其他组织


class IssuerLevel(StrEnum):
    """The administrative level of an issuing department."""

    NATIONAL = "national"  # 国家级
    PROVINCE = "province"  # 省级
    CITY = "city"  # 地市级
    COUNTY = "county"  # 区县级
    TOWNSHIP = "township"  # 乡镇级


class ItemType(StrEnum):
    """The type of one data item of a licence type."""

    TEXT = "text"
    DATE = "date"
    INTEGER = "integer"
    USCC = "uscc"
    ID_NUMBER = "id_number"


class HolderIdType(StrEnum):
    """Holder id type codes."""

    USCC = "001"
    OTHER_ORGANISATION = "099"
    RESIDENT_ID = "111"
    PASSPORT_411 = "411"
    PASSPORT_412 = "412"
    PASSPORT_413 = "413"
    PASSPORT_414 = "414"
    TAIWAN_PERMIT = "511"
    HK_MACAO_PERMIT = "516"
    OTHER = "999"

    @property
    def category(self) -> HolderCategory | None:
        """The holder category this id type belongs to (None: either)."""
        if self in (HolderIdType.USCC, HolderIdType.OTHER_ORGANISATION):
            return HolderCategory.ORGANISATION
        if self is HolderIdType.OTHER:
            return None
        return HolderCategory.NATURAL_PERSON


_DIVISION_RE = re.compile(r"[1-8][0-9]{5}")
_ITEM_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_VALIDITY_RE = re.compile(r"(0|[1-9][0-9]{0,2})/([YMDL])")


@dataclass(frozen=True, slots=True)
class ValidityRule:
    """How long a licence of a type is valid: ``N/Y``, ``N/M``, ``N/D`` or ``0/L`` (long-term)."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, text: str, *, field: str = "validity") -> ValidityRule:
        m = _VALIDITY_RE.fullmatch(text)
        if not m:
            raise InputError("must be N/Y, N/M, N/D or 0/L (for example 5/Y)", field=field)
        amount, unit = int(m.group(1)), m.group(2)
        if (unit == "L") != (amount == 0):
            raise InputError("0 goes with L (long-term) and L only with 0", field=field)
        return cls(amount, unit)

    @property
    def long_term(self) -> bool:
        return self.unit == "L"

    def __str__(self) -> str:
        return f"{self.amount}/{self.unit}"

    def last_day(self, valid_from: dt.date) -> dt.date | None:
        """The last day of validity for a licence valid from ``valid_from`` (None: long-term)."""
        if self.unit == "L":
            return None
        if self.unit == "D":
            return valid_from + dt.timedelta(days=self.amount - 1)
        months = self.amount * (12 if self.unit == "Y" else 1)
        y, m = divmod(valid_from.month - 1 + months, 12)
        year, month = valid_from.year + y, m + 1
        day = min(valid_from.day, calendar.monthrange(year, month)[1])
        return dt.date(year, month, day) - dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DataItem:
    """One data item of a licence type (a field printed on the licence)."""

    name: str
    label_zh: str
    label_en: str
    type: ItemType = ItemType.TEXT
    required: bool = True
    max_length: int = 64
    in_seal: bool = False
    seal_key: int | None = None  # the item's key in the seal (1-23), fixed forever for its type


class SignatureAlgorithm(StrEnum):
    """What a licence type's seals are signed with (its PDFs' PAdES signature is always ES256)."""

    ES256 = "ES256"  # ECDSA P-256 with SHA-256
    SM2 = "SM2"  # SM2 with SM3, GB/T 32918 / GM/T 0009 (ADR 0016)


@dataclass(frozen=True, slots=True)
class LicenceType:
    """One catalogue entry (目录信息) of a licence type."""

    code: str
    name_zh: str
    name_en: str
    authority_name: str
    authority_uscc: str
    holder_category: HolderCategory
    validity: ValidityRule
    issuer_levels: tuple[IssuerLevel, ...]
    data_items: tuple[DataItem, ...]
    template: str = "default"
    english_labels: bool = True
    service_items: tuple[str, ...] = ()
    version: int = 1
    algorithm: SignatureAlgorithm = SignatureAlgorithm.ES256

    def item(self, name: str) -> DataItem | None:
        for item in self.data_items:
            if item.name == name:
                return item
        return None

    @property
    def seal_items(self) -> tuple[DataItem, ...]:
        return tuple(i for i in self.data_items if i.in_seal)

    def item_by_seal_key(self, key: int) -> DataItem | None:
        for item in self.data_items:
            if item.in_seal and item.seal_key == key:
                return item
        return None


@dataclass(frozen=True, slots=True)
class Department:
    """An issuing department: USCC, names, GB/T 2260 division code, level, what it may issue."""

    uscc: str
    name_zh: str
    name_en: str
    division_code: str
    level: IssuerLevel
    licence_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The whole catalogue, checked for internal consistency when built."""

    licence_types: Mapping[str, LicenceType] = field(default_factory=dict)
    departments: Mapping[str, Department] = field(default_factory=dict)

    @classmethod
    def build(
        cls, licence_types: Iterable[LicenceType], departments: Iterable[Department]
    ) -> Catalogue:
        # fields are paths in the catalogue file's shape, so the file parser can name the line
        types: dict[str, LicenceType] = {}
        for ti, t in enumerate(licence_types):
            if t.code in types:
                raise CatalogueError(
                    f"licence type {t.code} appears twice", field=f"licence_types[{ti}].code"
                )
            if t.code[:18] != t.authority_uscc:
                raise CatalogueError(
                    f"licence type {t.code} must begin with its defining authority's USCC "
                    f"{t.authority_uscc} (GB/T 36904)",
                    field=f"licence_types[{ti}].code",
                )
            seen: set[str] = set()
            seal_keys: set[int] = set()
            for ii, item in enumerate(t.data_items):
                where = f"licence_types[{ti}].data_items[{ii}].seal_key"
                if item.in_seal != (item.seal_key is not None):
                    raise CatalogueError(
                        f"licence type {t.code}: data item {item.name!r} needs a seal_key "
                        "exactly when it goes into the seal (in_seal: true)",
                        field=where,
                    )
                if item.seal_key is not None:
                    if item.seal_key in seal_keys:
                        raise CatalogueError(
                            f"licence type {t.code}: seal_key {item.seal_key} appears twice",
                            field=where,
                        )
                    seal_keys.add(item.seal_key)
                if item.name in seen:
                    raise CatalogueError(
                        f"licence type {t.code}: data item {item.name!r} appears twice",
                        field=f"licence_types[{ti}].data_items[{ii}].name",
                    )
                seen.add(item.name)
            types[t.code] = t
        depts: dict[str, Department] = {}
        for di, d in enumerate(departments):
            if d.uscc in depts:
                raise CatalogueError(
                    f"department {d.uscc} appears twice", field=f"departments[{di}].uscc"
                )
            for ci, code in enumerate(d.licence_types):
                lt = types.get(code)
                if lt is None:
                    raise CatalogueError(
                        f"department {d.uscc} lists unknown licence type {code}",
                        field=f"departments[{di}].licence_types[{ci}]",
                    )
                if d.level not in lt.issuer_levels:
                    raise CatalogueError(
                        f"department {d.uscc} is {d.level} level but licence type {code} is "
                        f"issued at {', '.join(lt.issuer_levels)} level",
                        field=f"departments[{di}].licence_types[{ci}]",
                    )
            depts[d.uscc] = d
        return cls(types, depts)

    def algorithms(self, uscc: str) -> tuple[SignatureAlgorithm, ...]:
        """The signature algorithms of the licence types ``uscc`` may issue (ES256 always: its
        PDFs are signed ES256 whatever the type's seal), ES256 first."""
        dept = self.departments.get(uscc)
        used = {self.licence_types[c].algorithm for c in dept.licence_types} if dept else set()
        return (SignatureAlgorithm.ES256, *sorted(used - {SignatureAlgorithm.ES256}))

    def licence_type(self, code: str) -> LicenceType:
        try:
            return self.licence_types[code]
        except KeyError:
            raise CatalogueError(
                f"unknown licence type {code}", field="type_code", code="unknown_licence_type"
            ) from None

    def department(self, uscc: str) -> Department:
        try:
            return self.departments[uscc]
        except KeyError:
            raise CatalogueError(
                f"unknown department {uscc}", field="department", code="unknown_department"
            ) from None


def check_seal_keys_stable(old: Catalogue, new: Catalogue) -> None:
    """Refuse a catalogue that would give a seal key of an existing type another meaning.

    Seals already issued name their data items by seal key; reusing a key for another item
    would make every old seal of the type read wrongly.
    """
    for code, new_type in new.licence_types.items():
        old_type = old.licence_types.get(code)
        if old_type is None:
            continue
        for item in new_type.seal_items:
            assert item.seal_key is not None
            before = old_type.item_by_seal_key(item.seal_key)
            if before is not None and before.name != item.name:
                raise CatalogueError(
                    f"licence type {code}: seal_key {item.seal_key} meant {before.name!r} and "
                    f"cannot now mean {item.name!r}; seals already issued use it",
                    field="seal_key",
                )


def check_division_code(value: str, *, field: str = "division_code") -> str:
    """A GB/T 2260 administrative division code: six digits."""
    if not _DIVISION_RE.fullmatch(value):
        raise InputError("must be a six-digit GB/T 2260 division code", field=field)
    return value


def check_item_name(value: str, *, field: str = "name") -> str:
    if not _ITEM_NAME_RE.fullmatch(value):
        raise InputError("must be lower-case ascii, digits and _ (at most 40)", field=field)
    return value


GUANGDONG_DIVISIONS = {
    "440000": "广东省",
    "440100": "广州市",
    "440106": "广州市天河区",
    "440300": "深圳市",
    "440305": "深圳市南山区",
    "440400": "珠海市",
    "440600": "佛山市",
    "441900": "东莞市",
    "442000": "中山市",
}
