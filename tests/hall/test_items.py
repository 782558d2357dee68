"""The service-item catalogue (事项目录): the demo file for Guangdong, the file format's rules
(each broken rule names its field and line), the fit with the licence catalogue, the API."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elicence.domain.catalogue import HolderCategory
from elicence.errors import CatalogueError
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue
from elicence.hall.items import (
    CatalogueName,
    FormField,
    ItemKind,
    LicenceMaterial,
    ServiceItem,
    UploadMaterial,
    check_against_licences,
    city_of,
    is_above,
)
from elicence.hall.items_file import (
    DEMO_ITEMS,
    item_from_dict,
    item_to_dict,
    items_from_dict,
    items_to_dict,
    load_items,
    parse_items,
)
from tests.hall.conftest import RESTAURANT, TH_AMR, World

FOOD = "11100000000013338W011"
BUSINESS = "11100000000013338W001"
PROVINCE_AMR = "11440000MB2C00001T"


def demo_text() -> str:
    return DEMO_ITEMS.read_text(encoding="utf-8")


def test_the_demo_catalogue_covers_guangdong() -> None:
    cat = load_items(DEMO_ITEMS)
    assert len(cat.items) >= 12
    assert len({i.department for i in cat.items.values()}) >= 4
    assert {i.kind for i in cat.items.values()} == set(ItemKind)
    assert {i.depth for i in cat.items.values()} == {1, 2, 3}
    restaurant = next(
        i for i in cat.items.values() if "开办餐馆" in i.name_zh and i.department == TH_AMR
    )
    assert restaurant.issues == FOOD
    licences = [m for m in restaurant.materials if isinstance(m, LicenceMaterial)]
    assert [m.licence_type for m in licences] == [BUSINESS]
    assert any(isinstance(m, UploadMaterial) for m in restaurant.materials)
    assert {s.name_zh for s in cat.scenarios.values()} == {"我要开餐馆", "我要生小孩"}
    assert RESTAURANT in cat.scenarios["open-restaurant"].items
    check_against_licences(cat, load_catalogue(DEMO_CATALOGUE))


def test_the_three_catalogues_are_views_of_a_department() -> None:
    cat = load_items(DEMO_ITEMS)
    province = cat.catalogues_of(PROVINCE_AMR)
    assert [i.code for i in province[CatalogueName.OWN_LEVEL]] == ["440000-SCJ-0001"]
    guided = {i.code for i in province[CatalogueName.GUIDED_LOWER]}
    assert RESTAURANT in guided and all(cat.items[c].department != PROVINCE_AMR for c in guided)
    district = cat.catalogues_of(TH_AMR)
    assert RESTAURANT in {i.code for i in district[CatalogueName.OWN_LEVEL]}
    assert RESTAURANT in {i.code for i in district[CatalogueName.COLLABORATIVE]}


def test_the_catalogue_round_trips_through_its_stored_form() -> None:
    cat = load_items(DEMO_ITEMS)
    assert items_from_dict(items_to_dict(cat)) == cat
    for item in cat.items.values():
        assert item_from_dict(item_to_dict(item)) == item


def test_divisions() -> None:
    assert city_of("440106") == "440100" and city_of("440100") == "440100"
    assert city_of("440000") == "440000"
    assert is_above("440000", "440106") and is_above("440100", "440106")
    assert not is_above("440106", "440106") and not is_above("440300", "440106")
    assert not is_above("440106", "440100")


def _edit(old: str, new: str, count: int = 1) -> str:
    text = demo_text()
    assert old in text, old
    return text.replace(old, new, count)


BAD_FILES = [
    (
        "depth-3-two-visits",
        "    depth: 3\n    max_visits: 0\n    promised_days: 10\n",
        "    depth: 3\n    max_visits: 2\n    promised_days: 10\n",
        "items[0].max_visits",
        "at most 1 on-site",
    ),
    (
        "depth-2-three-visits",
        "    depth: 2\n    max_visits: 1\n    promised_days: 10\n",
        "    depth: 2\n    max_visits: 3\n    promised_days: 10\n",
        "items[2].max_visits",
        "at most 2",
    ),
    (
        "promise-over-statutory",
        "    promised_days: 10\n    statutory_days: 20\n",
        "    promised_days: 30\n    statutory_days: 20\n",
        "items[0].promised_days",
        "more than the statutory",
    ),
    (
        "depth-4",
        "    depth: 3\n    max_visits: 0\n    promised_days: 10\n",
        "    depth: 4\n    max_visits: 0\n    promised_days: 10\n",
        "items[0].depth",
        "less than or equal to 3",
    ),
    (
        "unknown-kind",
        "    kind: administrative_licensing\n",
        "    kind: licensing\n",
        "items[0].kind",
        "administrative_licensing",
    ),
    (
        "bad-item-code",
        "  - code: 440106-SCJ-0001\n",
        "  - code: x\n",
        "items[0].code",
        "4-40 characters",
    ),
    (
        "duplicate-item",
        "  - code: 440106-SCJ-0002\n",
        "  - code: 440106-SCJ-0001\n",
        "items[1].code",
        "appears twice",
    ),
    (
        "unknown-department",
        "    department: 11440106MB2E000032\n    guided_by",
        "    department: 91440101MA59TK3R7Y\n    guided_by",
        "items[0].department",
        "not in departments",
    ),
    (
        "bad-uscc",
        "  - {uscc: 11440000MB2C00001T,",
        "  - {uscc: 11440000MB2C00001X,",
        "departments[0].uscc",
        "check character",
    ),
    (
        "guide-not-above",
        "    guided_by: 11440000MB2C00001T          # the province",
        "    guided_by: 11440300MB2F00008P          # Shenzhen",
        "items[0].guided_by",
        "is not above",
    ),
    (
        "material-both",
        "      - {name: business_licence, label_zh: 营业执照, licence_type: 11100000000013338W001}\n      - name: premises_layout",
        "      - {name: business_licence, label_zh: 营业执照, licence_type: 11100000000013338W001, upload: {types: [application/pdf]}}\n      - name: premises_layout",
        "items[0].materials[0]",
        "either a licence_type",
    ),
    (
        "upload-type",
        "upload: {types: [application/pdf, image/png, image/jpeg], max_kb: 2048}",
        "upload: {types: [text/html], max_kb: 2048}",
        "items[0].materials[1].upload.types[0]",
        "application/pdf",
    ),
    (
        "upload-too-big",
        "upload: {types: [application/pdf, image/png, image/jpeg], max_kb: 2048}",
        "upload: {types: [application/pdf], max_kb: 999999}",
        "items[0].materials[1].upload.max_kb",
        "less than or equal",
    ),
    (
        "scenario-unknown-item",
        "    items: [440106-SCJ-0001, 440106-XF-0001]",
        "    items: [440106-SCJ-0001, 440106-XF-0009]",
        "scenarios[0].items[1]",
        "unknown item",
    ),
    (
        "weights-sum",
        "capability: 0.4, efficiency: 0.3, satisfaction: 0.3",
        "capability: 0.4, efficiency: 0.3, satisfaction: 0.4",
        "scoring[0]",
        "sum to 1",
    ),
    (
        "unknown-field",
        "    kind: administrative_licensing\n",
        "    kind: administrative_licensing\n    fee: 0\n",
        "items[0].fee",
        "Extra inputs",
    ),
    (
        "keyword-too-long",
        "    keywords: [开饭店, 餐馆, 餐厅, 餐饮, 食品经营许可证]",
        "    keywords: [开饭店, 餐馆餐馆餐馆餐馆餐馆餐馆餐馆餐馆餐馆餐馆餐]",
        "items[0].keywords[1]",
        "at most 20",
    ),
    (
        "keywords-not-a-list",
        "    keywords: [开饭店, 餐馆, 餐厅, 餐饮, 食品经营许可证]",
        "    keywords: 开饭店",
        "items[0].keywords",
        "valid list",
    ),
    (
        "not-a-date",
        "  - {from: 2026-01-01, capability: 0.4",
        "  - {from: 2026-13-01, capability: 0.4",
        "scoring[0].from",
        "valid date",
    ),
    (
        "wrong-format",
        "format: elicence-service-items/1",
        "format: elicence-service-items/2",
        "format",
        "elicence-service-items/1",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "words"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_a_broken_rule_names_its_field_and_line(old: str, new: str, field: str, words: str) -> None:
    text = _edit(old, new)
    with pytest.raises(CatalogueError) as e:
        parse_items(text, source="items.yaml")
    assert e.value.field == field
    assert words in e.value.message
    line = int(re.search(r"line (\d+) of items\.yaml", e.value.message).group(1))  # type: ignore[union-attr]
    changed = next(
        i
        for i, (a, b) in enumerate(
            zip(demo_text().splitlines(), text.splitlines(), strict=False), 1
        )
        if a != b
    )
    assert abs(line - changed) <= 3, (line, changed, e.value.message)


def test_not_yaml_is_refused() -> None:
    with pytest.raises(CatalogueError, match="not valid YAML"):
        parse_items("items: [unclosed")


CROSS = [
    (
        "unknown-licence-type",
        "      - {name: business_licence, label_zh: 营业执照, licence_type: 11100000000013338W001}\n      - name: premises_layout",
        "      - {name: business_licence, label_zh: 营业执照, licence_type: 11100000000013338W099}\n      - name: premises_layout",
        "items[0].materials[0].licence_type",
        "not in the licence catalogue",
    ),
    (
        "department-may-not-issue",
        "    issues: 11100000000013338W011\n\n  - code: 440106-SCJ-0002",
        "    issues: 11100000MB0000000P001\n\n  - code: 440106-SCJ-0002",
        "items[0].issues",
        "may not issue",
    ),
    (
        "audience-not-holder",
        "    audience: [organisation]\n    depth: 3\n    max_visits: 0\n    promised_days: 10",
        "    audience: [organisation, natural_person]\n    depth: 3\n    max_visits: 0\n    promised_days: 10",
        "items[0].audience",
        "audience must be",
    ),
    (
        "data-item-not-on-form",
        "      - {name: business_items, label_zh: 经营项目, max_length: 500}\n      - {name: contact_phone",
        "      - {name: contact_phone",
        "items[0].form",
        "business_items",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "words"), [c[1:] for c in CROSS], ids=[c[0] for c in CROSS]
)
def test_items_must_fit_the_licence_catalogue(old: str, new: str, field: str, words: str) -> None:
    cat = parse_items(_edit(old, new))
    with pytest.raises(CatalogueError) as e:
        check_against_licences(cat, load_catalogue(DEMO_CATALOGUE))
    assert e.value.field == field
    assert words in e.value.message


def test_an_import_that_does_not_fit_is_refused_and_changes_nothing(world: World) -> None:
    before = world.svc.hall.items_version()
    cat = parse_items(
        _edit(
            "    issues: 11100000000013338W011\n\n  - code: 440106-SCJ-0002",
            "    issues: 11100000MB0000000P001\n\n  - code: 440106-SCJ-0002",
        )
    )
    with pytest.raises(CatalogueError):
        world.svc.hall.import_items(cat)
    assert world.svc.hall.items_version() == before


def test_the_api_serves_items_catalogues_and_scenarios(any_world: World) -> None:
    api = any_world.api
    items = api.get("/api/v1/service-items").json()
    assert len(items) >= 12
    organisation = api.get(
        "/api/v1/service-items", params={"audience": "organisation", "min_depth": 3}
    ).json()
    assert organisation and all(
        i["depth"] == 3 and "organisation" in i["audience"] for i in organisation
    )
    one = api.get(f"/api/v1/service-items/{RESTAURANT}").json()
    assert one["issues"] == FOOD and one["paper_free"] == ["business_licence"]
    assert one["department_name"] == "广州市天河区市场监督管理局" and one["kind_zh"] == "行政许可"
    assert api.get("/api/v1/service-items/NOPE-0000").status_code == 404
    cats = api.get(f"/api/v1/service-catalogues/{PROVINCE_AMR}").json()["catalogues"]
    assert cats["guided_lower"]["name_zh"] == "应规整下级事项目录"
    assert RESTAURANT in [i["code"] for i in cats["guided_lower"]["items"]]
    assert api.get("/api/v1/service-catalogues/91440101MA59TK3R7Y").status_code == 404
    bad = api.get("/api/v1/service-catalogues/91440101MA59TK3R7X")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "department"
    scenarios = {s["code"]: s for s in api.get("/api/v1/scenarios").json()}
    assert scenarios["have-a-baby"]["name_zh"] == "我要生小孩"
    full = api.get("/api/v1/scenarios/open-restaurant").json()
    assert [i["code"] for i in full["items"]] == scenarios["open-restaurant"]["items"]


def test_a_department_of_the_item_catalogue_alone_may_have_clerks(world: World) -> None:
    assert world.client("th_fire").department == "11440106MB2E00710H"
    assert HolderCategory.ORGANISATION in world.svc.hall.items().items[RESTAURANT].audience


# -- property: what the file format can say, it reads back -------------------------------------


names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
labels = st.text(alphabet="营业执照经营场所平面图张三ABC", min_size=1, max_size=20)


@st.composite
def items(draw: st.DrawFn) -> ServiceItem:
    depth = draw(st.integers(1, 3))
    limit = {1: 10, 2: 2, 3: 1}[depth]
    statutory = draw(st.integers(1, 365))
    form_names = draw(st.lists(names, max_size=4, unique=True))
    material_names = draw(st.lists(names, max_size=4, unique=True))
    materials: list[LicenceMaterial | UploadMaterial] = []
    for name in material_names:
        if draw(st.booleans()):
            materials.append(LicenceMaterial(name, draw(labels), BUSINESS, draw(st.booleans())))
        else:
            types = tuple(
                draw(
                    st.lists(
                        st.sampled_from(["application/pdf", "image/png", "image/jpeg"]),
                        min_size=1,
                        max_size=3,
                        unique=True,
                    )
                )
            )
            materials.append(
                UploadMaterial(
                    name,
                    draw(labels),
                    types,
                    draw(st.integers(1, 10240)) * 1024,
                    draw(st.booleans()),
                )
            )
    return ServiceItem(
        code=draw(st.from_regex(r"[0-9A-Z][0-9A-Z-]{3,20}", fullmatch=True)),
        name_zh=draw(labels),
        department=TH_AMR,
        kind=draw(st.sampled_from(list(ItemKind))),
        audience=tuple(
            draw(
                st.lists(st.sampled_from(list(HolderCategory)), min_size=1, max_size=2, unique=True)
            )
        ),
        depth=depth,
        max_visits=draw(st.integers(0, limit)),
        promised_days=draw(st.integers(0, statutory)),
        statutory_days=statutory,
        form=tuple(
            FormField(n, draw(labels), draw(st.booleans()), draw(st.integers(1, 2000)))
            for n in form_names
        ),
        materials=tuple(materials),
        issues=draw(st.none() | st.just(FOOD)),
    )


@given(items())
def test_any_item_the_format_can_say_reads_back(item: ServiceItem) -> None:
    assert item_from_dict(item_to_dict(item)) == item
