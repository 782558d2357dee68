"""elicence.formats.catalogue_file and the catalogue values: the demo file, validity rules, broken files."""

from __future__ import annotations

import calendar
import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elicence.domain.catalogue import (
    Catalogue,
    HolderCategory,
    IssuerLevel,
    ValidityRule,
)
from elicence.errors import CatalogueError, InputError
from elicence.formats.catalogue_file import (
    DEMO_CATALOGUE,
    catalogue_from_dict,
    catalogue_to_dict,
    load_catalogue,
    parse_catalogue,
)
from tests.conftest import BUSINESS, FOOD, MARRIAGE, TH_CIVIL

DEMO_TEXT = DEMO_CATALOGUE.read_text(encoding="utf-8")


# -- the demo catalogue -----------------------------------------------------------------------


def test_demo_catalogue_loads_with_types_of_both_holder_categories() -> None:
    cat = load_catalogue(DEMO_CATALOGUE)
    assert len(cat.licence_types) >= 6
    categories = {t.holder_category for t in cat.licence_types.values()}
    assert categories == {HolderCategory.NATURAL_PERSON, HolderCategory.ORGANISATION}
    assert cat.licence_type(MARRIAGE).holder_category is HolderCategory.NATURAL_PERSON
    assert cat.licence_type(FOOD).holder_category is HolderCategory.ORGANISATION


def test_demo_catalogue_departments_span_province_city_county() -> None:
    cat = load_catalogue(DEMO_CATALOGUE)
    assert len(cat.departments) >= 4
    levels = {d.level for d in cat.departments.values()}
    assert {IssuerLevel.PROVINCE, IssuerLevel.CITY, IssuerLevel.COUNTY} <= levels
    th = cat.department(TH_CIVIL)
    assert th.level is IssuerLevel.COUNTY
    assert th.division_code == "440106"
    assert th.licence_types == (MARRIAGE,)
    for d in cat.departments.values():
        for code in d.licence_types:
            assert d.level in cat.licence_type(code).issuer_levels


def test_demo_catalogue_food_permit_entry() -> None:
    food = load_catalogue(DEMO_CATALOGUE).licence_type(FOOD)
    assert food.validity == ValidityRule(5, "Y")
    assert food.authority_uscc == "11100000000013338W"
    assert [i.name for i in food.seal_items] == []  # permits seal only the core metadata
    item = food.item("complaint_hotline")
    assert item is not None and item.required is False and item.max_length == 20
    assert food.item("no_such_item") is None


def test_unknown_type_and_department_lookups_raise_catalogue_error() -> None:
    cat = load_catalogue(DEMO_CATALOGUE)
    with pytest.raises(CatalogueError) as e:
        cat.licence_type("11100000000013338W999")
    assert e.value.field == "type_code"
    assert e.value.code == "unknown_licence_type"
    with pytest.raises(CatalogueError) as e:
        cat.department("91350100M000100Y43")
    assert e.value.field == "department"
    assert e.value.code == "unknown_department"


def test_missing_catalogue_file_is_a_catalogue_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CatalogueError, match="cannot read catalogue file"):
        load_catalogue(tmp_path / "nope.yaml")


# -- validity rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "valid_from", "last"),
    [
        pytest.param("5/Y", "2026-11-28", "2031-11-27", id="5-years"),
        pytest.param("1/Y", "2024-02-29", "2025-02-27", id="leap-day-1-year"),
        pytest.param("4/Y", "2024-02-29", "2028-02-28", id="leap-day-4-years"),
        pytest.param("1/M", "2026-01-31", "2026-02-27", id="jan-31-plus-month"),
        pytest.param("1/M", "2024-01-31", "2024-02-28", id="jan-31-leap-year"),
        pytest.param("1/M", "2026-03-31", "2026-04-29", id="mar-31-plus-month"),
        pytest.param("1/M", "2026-12-15", "2027-01-14", id="over-new-year"),
        pytest.param("13/M", "2026-01-01", "2027-01-31", id="13-months"),
        pytest.param("1/D", "2026-11-28", "2026-11-28", id="1-day"),
        pytest.param("30/D", "2026-12-31", "2027-01-29", id="30-days"),
    ],
)
def test_validity_last_day(rule: str, valid_from: str, last: str) -> None:
    got = ValidityRule.parse(rule).last_day(dt.date.fromisoformat(valid_from))
    assert got == dt.date.fromisoformat(last)


def test_long_term_has_no_last_day() -> None:
    rule = ValidityRule.parse("0/L")
    assert rule.long_term
    assert rule.last_day(dt.date(2026, 11, 28)) is None
    assert str(rule) == "0/L"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("5/X", id="unknown-unit"),
        pytest.param("5/y", id="lower-case"),
        pytest.param("0/Y", id="zero-years"),
        pytest.param("5/L", id="long-term-with-amount"),
        pytest.param("05/Y", id="leading-zero"),
        pytest.param("1000/D", id="four-digits"),
        pytest.param("5Y", id="no-slash"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_validity_rule(text: str) -> None:
    with pytest.raises(InputError) as e:
        ValidityRule.parse(text)
    assert e.value.field == "validity"
    assert "N/Y" in e.value.message or "0 goes with L" in e.value.message


@given(
    st.integers(min_value=1, max_value=99),
    st.sampled_from("YMD"),
    st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2200, 12, 31)),
)
def test_last_day_property(amount: int, unit: str, start: dt.date) -> None:
    rule = ValidityRule.parse(f"{amount}/{unit}")
    assert str(rule) == f"{amount}/{unit}"
    last = rule.last_day(start)
    assert last is not None
    assert last >= start
    following = last + dt.timedelta(days=1)  # the first day no longer valid
    if unit == "D":
        assert (following - start).days == amount
        return
    months = amount * (12 if unit == "Y" else 1)
    y, m = divmod(start.month - 1 + months, 12)
    assert (following.year, following.month) == (start.year + y, m + 1)
    # same day of the month, or the month's last day where that day does not exist
    month_end = calendar.monthrange(following.year, following.month)[1]
    assert following.day == min(start.day, month_end)


# -- broken catalogues ------------------------------------------------------------------------


def _line_of(text: str, needle: str) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(lines) == 1, f"{needle!r} must occur on exactly one line"
    return lines[0]


# (old text replaced once, new text, line offset of the fault inside the new text, field, rule)
BROKEN = [
    pytest.param(
        "uscc: 11100000000013338W}",
        "uscc: 11100000000013338X}",
        0,
        "licence_types[0].authority.uscc",
        "wrong check character 'X'",
        id="authority-uscc-check-char",
    ),
    pytest.param(
        "- uscc: 11440106MB2E00307F",
        "- uscc: 11440106MB2E00307G",
        0,
        "departments[7].uscc",
        "wrong check character 'G', GB 32100 gives 'F'",
        id="department-uscc-check-char",
    ),
    pytest.param(
        "holder_category: natural_person",
        "holder_category: citizen",
        0,
        "licence_types[4].holder_category",
        "'natural_person' or 'organisation'",
        id="unknown-holder-category",
    ),
    pytest.param(
        "validity: 5/Y",
        "validity: 5/X",
        0,
        "licence_types[1].validity",
        "must be N/Y, N/M, N/D or 0/L",
        id="validity-5-X",
    ),
    pytest.param(
        "label_en: Type, max_length: 40}",
        "label_en: Type, max_length: 0}",
        0,
        "licence_types[0].data_items[0].max_length",
        "greater than or equal to 1",
        id="max-length-0",
    ),
    pytest.param(
        "licence_types: [11100000000014001A001]",
        "licence_types: [11100000000014001A009]",
        0,
        "departments[7].licence_types[0]",
        "unknown licence type 11100000000014001A009",
        id="department-lists-unknown-type",
    ),
    pytest.param(
        "licence_types: [11100000000014001A001]",
        "licence_types: [11100000000013904F001]",
        0,
        "departments[7].licence_types[0]",
        "is county level but licence type 11100000000013904F001 is issued at province level",
        id="department-level-not-allowed",
    ),
    pytest.param(
        "{name: registered_capital,",
        "{name: company_type,",
        0,
        "licence_types[0].data_items[2].name",
        "data item 'company_type' appears twice",
        id="duplicate-data-item",
    ),
    pytest.param(
        "  - code: 11100000MB0000000P002",
        "  - code: 11100000MB0000000P001",
        0,
        "licence_types[5].code",
        "licence type 11100000MB0000000P001 appears twice",
        id="duplicate-licence-type",
    ),
    pytest.param(
        'division_code: "440300"',
        'division_code: "44030"',
        0,
        "departments[3].division_code",
        "six-digit GB/T 2260 division code",
        id="division-code-5-digits",
    ),
    pytest.param(
        "    level: province\n    licence_types: [11100000000013904F001]",
        "    level: ministry\n    licence_types: [11100000000013904F001]",
        0,
        "departments[6].level",
        "'national', 'province', 'city', 'county' or 'township'",
        id="unknown-level",
    ),
    pytest.param(
        "    template: business_licence\n",
        "    template: business_licence\n    colour: red\n",
        1,
        "licence_types[0].colour",
        "Extra inputs are not permitted",
        id="unknown-field",
    ),
    pytest.param(
        "{name: company_type,",
        "{name: Company-Type,",
        0,
        "licence_types[0].data_items[0].name",
        "lower-case ascii",
        id="bad-item-name",
    ),
    pytest.param(
        "format: elicence-catalogue/1",
        "format: elicence-catalogue/2",
        0,
        "format",
        "elicence-catalogue/1",
        id="wrong-format-version",
    ),
]


@pytest.mark.parametrize(("old", "new", "offset", "field", "rule"), BROKEN)
def test_broken_catalogue_names_line_and_field(
    old: str, new: str, offset: int, field: str, rule: str
) -> None:
    at = DEMO_TEXT.index(old)
    broken = DEMO_TEXT.replace(old, new, 1)
    line = DEMO_TEXT[:at].count("\n") + 1 + offset
    with pytest.raises(CatalogueError) as e:
        parse_catalogue(broken, source="cat.yaml")
    assert e.value.field == field
    assert f"line {line} of cat.yaml" in e.value.message
    assert rule in e.value.message


def test_missing_field_names_the_enclosing_entry_line() -> None:
    broken = DEMO_TEXT.replace("    validity: 3/Y\n", "", 1)
    with pytest.raises(CatalogueError) as e:
        parse_catalogue(broken, source="cat.yaml")
    assert e.value.field == "licence_types[3].validity"
    assert f"line {_line_of(broken, 'code: 11100000000013904F001')} of cat.yaml" in str(e.value)
    assert "Field required" in e.value.message


@pytest.mark.parametrize(
    ("old", "new", "line_marker"),
    [
        pytest.param(
            "name_zh: 营业执照", "name_zh: 营业执照: x", "营业执照: x", id="colon-in-value"
        ),
        pytest.param(
            "issuer_levels: [province]", "issuer_levels: [province", None, id="unclosed-bracket"
        ),
    ],
)
def test_non_yaml_is_a_catalogue_error(old: str, new: str, line_marker: str | None) -> None:
    broken = DEMO_TEXT.replace(old, new, 1)
    with pytest.raises(CatalogueError) as e:
        parse_catalogue(broken, source="cat.yaml")
    assert e.value.field is None
    assert "not valid YAML" in e.value.message
    assert e.value.message.startswith("cat.yaml: line ")
    if line_marker is not None:
        assert f"line {_line_of(broken, line_marker)}:" in e.value.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param("", "catalogue", id="empty-file"),
        pytest.param("- just\n- a list\n", "catalogue", id="a-list"),
        pytest.param("format: elicence-catalogue/1\n", "licence_types", id="no-entries"),
    ],
)
def test_catalogue_of_the_wrong_shape(text: str, field: str) -> None:
    with pytest.raises(CatalogueError) as e:
        parse_catalogue(text)
    assert e.value.field == field


# -- round trip -------------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip() -> None:
    cat = load_catalogue(DEMO_CATALOGUE)
    data = catalogue_to_dict(cat)
    again = catalogue_from_dict(json.loads(json.dumps(data, ensure_ascii=False)))
    assert again == cat
    assert list(again.licence_types) == list(cat.licence_types)
    assert catalogue_to_dict(again) == data


def test_from_dict_refuses_malformed_data() -> None:
    data = catalogue_to_dict(load_catalogue(DEMO_CATALOGUE))
    data["licence_types"][0]["validity"] = "5/X"
    with pytest.raises(CatalogueError, match="stored catalogue is malformed"):
        catalogue_from_dict(data)


def test_from_dict_runs_the_whole_catalogue_rules() -> None:
    data = catalogue_to_dict(load_catalogue(DEMO_CATALOGUE))
    data["departments"][0]["licence_types"].append("11100000000013338W999")
    with pytest.raises(CatalogueError, match="unknown licence type 11100000000013338W999"):
        catalogue_from_dict(data)


def test_catalogue_build_checks_department_rights() -> None:
    cat = load_catalogue(DEMO_CATALOGUE)
    business = cat.licence_type(BUSINESS)
    th = cat.department(TH_CIVIL)
    with pytest.raises(CatalogueError, match="unknown licence type"):
        Catalogue.build([business], [th])


def test_a_date_like_value_is_text_not_a_crash() -> None:
    """PyYAML reads ``2026-13-01`` as a timestamp and raises a bare ValueError; the catalogue
    reads every scalar as the model wants it, so a date-like name stays a name."""
    first = DEMO_TEXT.index("name_en:")
    line_end = DEMO_TEXT.index("\n", first)
    broken = DEMO_TEXT[:first] + "name_en: 2026-13-01" + DEMO_TEXT[line_end:]
    cat = parse_catalogue(broken, source="cat.yaml")
    assert "2026-13-01" in {t.name_en for t in cat.licence_types.values()}
