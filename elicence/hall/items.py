"""Hall (pure): the service-item catalogue (事项目录) of the hall, as domain values.

A service item (服务事项) is what an applicant can apply for: its code and name, the department
that handles it, its kind (行政许可 / 非行政许可审批 / 社会事务服务), who may apply (个人办事 /
企业办事), its online depth level (办事深度, 1–3), the on-site visits it may ask at most, the
working days it promises (承诺办结时限) against the statutory limit (法定办结时限), its form
fields, its required materials — each either a licence type (satisfied by citing an e-licence:
no paper original) or an upload — and the licence type it issues on approval, if any.

The three catalogues of the seed (本级应进驻事项目录 / 应规整下级事项目录 / 协同服务专项目录) are
views of the items, per department: the items it handles itself; the items it guides and its
lower-level departments handle (``guided_by``); the items it takes part in with others
(``collaborating``). Scenario bundles (专项"一条龙"服务, "我要开餐馆", "我要生小孩") group items.

Invariants: an :class:`ItemCatalogue` is checked whole when built: every code unique, every
department named exists, depth and visits agree with the seed's level rules (level 2: at most 2
visits; level 3: at most 1), promised days within the statutory limit, a guiding department sits
above the handling one, scenario items exist, scoring weights sum to 1. Field names are paths in
the file's shape (``items[3].max_visits``) so that the file parser can name the line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from elicence.domain.catalogue import Catalogue, HolderCategory, HolderIdType
from elicence.errors import CatalogueError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # no material may allow more than this
UPLOAD_TYPES = ("application/pdf", "image/jpeg", "image/png")
ITEM_CODE_RE = re.compile(r"[0-9A-Z][0-9A-Z-]{3,39}")
SCENARIO_CODE_RE = re.compile(r"[a-z][a-z0-9-]{1,39}")
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
# The seed's depth levels: level 2 "网上申请到现场次数不超过2次",
# level 3 "无需到现场或者只需到现场1次".
MAX_VISITS_AT_DEPTH = {1: None, 2: 2, 3: 1}


class ItemKind(StrEnum):
    """The three kinds of service item the seed counts (55,452 / 20,884 / 19,889 in 2014)."""

    ADMINISTRATIVE_LICENSING = "administrative_licensing"  # 行政许可
    NON_LICENSING_APPROVAL = "non_licensing_approval"  # 非行政许可审批
    PUBLIC_SERVICE = "public_service"  # 社会事务服务

    @property
    def label_zh(self) -> str:
        return {
            ItemKind.ADMINISTRATIVE_LICENSING: "行政许可",
            ItemKind.NON_LICENSING_APPROVAL: "非行政许可审批",
            ItemKind.PUBLIC_SERVICE: "社会事务服务",
        }[self]


class CatalogueName(StrEnum):
    """The seed's three catalogues (三个目录), as views of one department's items."""

    OWN_LEVEL = "own_level"  # 本级应进驻事项目录: the items it handles
    GUIDED_LOWER = "guided_lower"  # 应规整下级事项目录: it guides, lower levels handle
    COLLABORATIVE = "collaborative"  # 协同服务专项目录: handled with other departments

    @property
    def label_zh(self) -> str:
        return {
            CatalogueName.OWN_LEVEL: "本级应进驻事项目录",
            CatalogueName.GUIDED_LOWER: "应规整下级事项目录",
            CatalogueName.COLLABORATIVE: "协同服务专项目录",
        }[self]


@dataclass(frozen=True, slots=True)
class FormField:
    """One field of an item's application form (its value is text)."""

    name: str
    label_zh: str
    required: bool = True
    max_length: int = 200


@dataclass(frozen=True, slots=True)
class LicenceMaterial:
    """A material satisfied by citing an e-licence of this type: no paper original is asked."""

    name: str
    label_zh: str
    licence_type: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class UploadMaterial:
    """A material the applicant uploads (stored in the registry, checked by type and size)."""

    name: str
    label_zh: str
    content_types: tuple[str, ...] = UPLOAD_TYPES
    max_bytes: int = 5 * 1024 * 1024
    required: bool = True


Material = LicenceMaterial | UploadMaterial


@dataclass(frozen=True, slots=True)
class HallDepartment:
    """A department that handles service items: its USCC, name and GB/T 2260 division."""

    uscc: str
    name_zh: str
    division_code: str

    @property
    def city(self) -> str:
        """The prefecture-level division it belongs to (440106 → 440100; 440000 stays)."""
        return city_of(self.division_code)


@dataclass(frozen=True, slots=True)
class ServiceItem:
    """One service item (服务事项) of the catalogue."""

    code: str
    name_zh: str
    department: str
    kind: ItemKind
    audience: tuple[HolderCategory, ...]
    depth: int
    max_visits: int
    promised_days: int
    statutory_days: int
    form: tuple[FormField, ...] = ()
    materials: tuple[Material, ...] = ()
    issues: str | None = None  # the licence type issued on approval
    guided_by: str | None = None  # the upper department that guides it (应规整下级)
    collaborating: tuple[str, ...] = ()  # departments it is handled with (协同服务)
    keywords: tuple[str, ...] = ()  # words a citizen may search it by (检索关键词)

    def material(self, name: str) -> Material | None:
        for m in self.materials:
            if m.name == name:
                return m
        return None

    def form_field(self, name: str) -> FormField | None:
        for f in self.form:
            if f.name == name:
                return f
        return None

    @property
    def unified_acceptance(self) -> bool:
        """Depth ≥ 2: the hall accepts (主厅统一受理) and returns the result (统一反馈)."""
        return self.depth >= 2


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scenario bundle (专项"一条龙"综合服务), e.g. 我要开餐馆: items applied for together."""

    code: str
    name_zh: str
    items: tuple[str, ...]
    description_zh: str = ""


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """The composite score's weights from ``start`` on (the seed: weights follow the period's
    priorities, from service capability first towards satisfaction first)."""

    start: dt.date
    capability: float
    efficiency: float
    satisfaction: float


DEFAULT_WEIGHTS = ScoringWeights(dt.date(1970, 1, 1), 1 / 3, 1 / 3, 1 / 3)


def city_of(division_code: str) -> str:
    """The prefecture-level (city) division of a GB/T 2260 code; a province stays itself."""
    if division_code.endswith("0000"):
        return division_code
    return division_code[:4] + "00"


def is_above(upper: str, lower: str) -> bool:
    """True when division ``upper`` strictly contains division ``lower`` (GB/T 2260 prefixes)."""
    if upper == lower:
        return False
    if upper.endswith("0000"):
        return lower[:2] == upper[:2]
    if upper.endswith("00"):
        return lower[:4] == upper[:4]
    return False


def applicant_category(id_type: HolderIdType) -> HolderCategory | None:
    """个人 or 企业: the holder category of an applicant's id type (None: either)."""
    return id_type.category


@dataclass(frozen=True, slots=True)
class ItemCatalogue:
    """The whole service-item catalogue, checked for internal consistency when built."""

    departments: Mapping[str, HallDepartment] = field(default_factory=dict)
    items: Mapping[str, ServiceItem] = field(default_factory=dict)
    scenarios: Mapping[str, Scenario] = field(default_factory=dict)
    scoring: tuple[ScoringWeights, ...] = ()

    @classmethod
    def build(
        cls,
        departments: Iterable[HallDepartment],
        items: Iterable[ServiceItem],
        scenarios: Iterable[Scenario] = (),
        scoring: Iterable[ScoringWeights] = (),
    ) -> ItemCatalogue:
        depts: dict[str, HallDepartment] = {}
        for i, d in enumerate(departments):
            if d.uscc in depts:
                raise CatalogueError(
                    f"department {d.uscc} appears twice", field=f"departments[{i}].uscc"
                )
            depts[d.uscc] = d
        found: dict[str, ServiceItem] = {}
        for i, item in enumerate(items):
            _check_item(item, i, depts)
            if item.code in found:
                raise CatalogueError(f"item {item.code} appears twice", field=f"items[{i}].code")
            found[item.code] = item
        bundles: dict[str, Scenario] = {}
        for i, s in enumerate(scenarios):
            if s.code in bundles:
                raise CatalogueError(
                    f"scenario {s.code} appears twice", field=f"scenarios[{i}].code"
                )
            for j, code in enumerate(s.items):
                if code not in found:
                    raise CatalogueError(
                        f"scenario {s.code} lists unknown item {code}",
                        field=f"scenarios[{i}].items[{j}]",
                    )
            bundles[s.code] = s
        weights = tuple(scoring)
        for i, w in enumerate(weights):
            parts = (w.capability, w.efficiency, w.satisfaction)
            if any(p < 0 for p in parts) or abs(sum(parts) - 1) > 1e-9:
                raise CatalogueError(
                    "capability, efficiency and satisfaction must be ≥ 0 and sum to 1",
                    field=f"scoring[{i}]",
                )
            if i and w.start <= weights[i - 1].start:
                raise CatalogueError(
                    "scoring periods must be in order of their start dates",
                    field=f"scoring[{i}].from",
                )
        return cls(depts, found, bundles, weights)

    def item(self, code: str, *, field: str = "item_code") -> ServiceItem:
        try:
            return self.items[code]
        except KeyError:
            raise CatalogueError(
                f"no service item {code} in the catalogue", field=field, code="unknown_item"
            ) from None

    def department(self, uscc: str) -> HallDepartment:
        try:
            return self.departments[uscc]
        except KeyError:
            raise CatalogueError(
                f"no department {uscc} in the service-item catalogue",
                field="department",
                code="unknown_department",
            ) from None

    def catalogues_of(self, uscc: str) -> dict[CatalogueName, list[ServiceItem]]:
        """The seed's three catalogues of one department."""
        return {
            CatalogueName.OWN_LEVEL: [i for i in self.items.values() if i.department == uscc],
            CatalogueName.GUIDED_LOWER: [i for i in self.items.values() if i.guided_by == uscc],
            CatalogueName.COLLABORATIVE: [
                i
                for i in self.items.values()
                if i.collaborating and (i.department == uscc or uscc in i.collaborating)
            ],
        }

    def weights_for(self, day: dt.date) -> ScoringWeights:
        """The scoring weights in force on ``day`` (equal thirds before the first entry)."""
        chosen = DEFAULT_WEIGHTS
        for w in self.scoring:
            if w.start <= day:
                chosen = w
        return chosen


def _check_item(item: ServiceItem, i: int, depts: Mapping[str, HallDepartment]) -> None:
    where = f"items[{i}]"
    if item.department not in depts:
        raise CatalogueError(
            f"item {item.code}: department {item.department} is not in departments",
            field=f"{where}.department",
        )
    if item.depth not in MAX_VISITS_AT_DEPTH:
        raise CatalogueError("must be 1, 2 or 3", field=f"{where}.depth")
    limit = MAX_VISITS_AT_DEPTH[item.depth]
    if limit is not None and item.max_visits > limit:
        raise CatalogueError(
            f"item {item.code} is at depth {item.depth}, which allows at most {limit} on-site "
            f"visits, not {item.max_visits}",
            field=f"{where}.max_visits",
        )
    if item.promised_days > item.statutory_days:
        raise CatalogueError(
            f"item {item.code} promises {item.promised_days} working days, more than the "
            f"statutory {item.statutory_days}",
            field=f"{where}.promised_days",
        )
    if not item.audience:
        raise CatalogueError("name at least one audience", field=f"{where}.audience")
    names: set[str] = set()
    for j, m in enumerate(item.materials):
        if m.name in names:
            raise CatalogueError(
                f"item {item.code}: material {m.name!r} appears twice",
                field=f"{where}.materials[{j}].name",
            )
        names.add(m.name)
    fields: set[str] = set()
    for j, f in enumerate(item.form):
        if f.name in fields:
            raise CatalogueError(
                f"item {item.code}: form field {f.name!r} appears twice",
                field=f"{where}.form[{j}].name",
            )
        fields.add(f.name)
    handler = depts[item.department]
    if item.guided_by is not None:
        upper = depts.get(item.guided_by)
        if upper is None:
            raise CatalogueError(
                f"item {item.code}: guiding department {item.guided_by} is not in departments",
                field=f"{where}.guided_by",
            )
        if not is_above(upper.division_code, handler.division_code):
            raise CatalogueError(
                f"item {item.code}: {upper.name_zh} ({upper.division_code}) is not above "
                f"{handler.name_zh} ({handler.division_code}), so it cannot guide it (应规整下级)",
                field=f"{where}.guided_by",
            )
    for j, other in enumerate(item.collaborating):
        if other not in depts or other == item.department:
            raise CatalogueError(
                f"item {item.code}: collaborating department {other} must be another department "
                "of the catalogue",
                field=f"{where}.collaborating[{j}]",
            )


def check_against_licences(items: ItemCatalogue, licences: Catalogue) -> None:
    """Refuse an item catalogue that does not fit the licence catalogue in force.

    A licence material must name a licence type of the catalogue; an item that issues a licence
    must be handled by a department that may issue that type, to its applicants (the audience
    matches the type's holder category), with every required data item of the type on its form.
    """
    for i, item in enumerate(items.items.values()):
        where = f"items[{i}]"
        for j, m in enumerate(item.materials):
            if isinstance(m, LicenceMaterial) and m.licence_type not in licences.licence_types:
                raise CatalogueError(
                    f"item {item.code}: material {m.name!r} names licence type {m.licence_type}, "
                    "which is not in the licence catalogue",
                    field=f"{where}.materials[{j}].licence_type",
                )
        if item.issues is None:
            continue
        lt = licences.licence_types.get(item.issues)
        if lt is None:
            raise CatalogueError(
                f"item {item.code} issues licence type {item.issues}, which is not in the "
                "licence catalogue",
                field=f"{where}.issues",
            )
        dept = licences.departments.get(item.department)
        if dept is None or item.issues not in dept.licence_types:
            raise CatalogueError(
                f"item {item.code}: department {item.department} may not issue {lt.name_zh} "
                f"({item.issues}) under the licence catalogue",
                field=f"{where}.issues",
            )
        if item.audience != (lt.holder_category,):
            raise CatalogueError(
                f"item {item.code} issues {lt.name_zh} to its applicant, so its audience must be "
                f"[{lt.holder_category}] alone",
                field=f"{where}.audience",
            )
        for d in lt.data_items:
            f = item.form_field(d.name)
            if d.required and (f is None or not f.required):
                raise CatalogueError(
                    f"item {item.code} issues {lt.name_zh}, whose data item {d.name!r} is "
                    "required: the form must ask for it (required)",
                    field=f"{where}.form",
                )
