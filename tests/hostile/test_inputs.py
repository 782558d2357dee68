"""The text rule and the bounds themselves (``domain/inputs.py``): table-driven refusals with
the rule in the message, and properties of what passes."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elicence.domain import inputs
from elicence.errors import InputError


@dataclass(frozen=True)
class Refused:
    id: str
    value: Any
    field: str
    rule: str
    walk: bool = False  # through check_json (else check_text)


REFUSED = [
    Refused("lone-high-surrogate", "a\ud800b", "name", "a lone surrogate (U+D800)"),
    Refused("lone-low-surrogate", "\udfff", "name", "a lone surrogate (U+DFFF)"),
    Refused("noncharacter-fffe", "x\ufffe", "name", "a noncharacter (U+FFFE)"),
    Refused("noncharacter-plane-16", "\U0010ffff", "name", "a noncharacter (U+10FFFF)"),
    Refused("nul", "a\x00", "name", "control character (U+0000)"),
    Refused("escape", "\x1b[31m", "name", "control character (U+001B)"),
    Refused("delete", "\x7f", "name", "control character (U+007F)"),
    Refused("c1-next-line", "\x85", "name", "control character (U+0085)"),
    Refused("line-feed-in-one-line-field", "a\nb", "licence_number", "control character (U+000A)"),
    Refused("nul-in-free-text", "a\x00", "note", "only tab, line feed and carriage return"),
    Refused("vertical-tab-in-free-text", "a\x0bb", "reason", "control character (U+000B)"),
    Refused("too-long", "长" * (inputs.MAX_TEXT + 1), "name", "at most 16,384 allowed"),
    Refused("surrogate-deep", {"a": [{"b": "\ud83d"}]}, "a[0].b", "lone surrogate", walk=True),
    Refused("surrogate-key", {"\ud800": 1}, "\ufffd", "lone surrogate", walk=True),
    Refused("key-too-long", {"k" * 129: 1}, "(a key)", "at most 128 allowed", walk=True),
    Refused("integer-2-64", {"n": 2**64}, "n", "out of range", walk=True),
    Refused("integer-minus-2-64", {"n": -(2**64)}, "n", "out of range", walk=True),
    Refused("infinity", {"n": float("inf")}, "n", "not a finite number", walk=True),
    Refused("nan", {"n": float("nan")}, "n", "not a finite number", walk=True),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_a_value_that_breaks_the_rule_is_refused_naming_the_field_and_the_rule(
    case: Refused,
) -> None:
    with pytest.raises(InputError) as caught:
        if case.walk:
            inputs.check_json(case.value)
        else:
            inputs.check_text(case.value, field=case.field)
    assert caught.value.field == case.field
    assert case.rule in caught.value.message
    caught.value.message.encode("utf-8")  # the message never carries the bad value


def test_nesting_deeper_than_the_bound_is_refused_and_the_bound_itself_passes() -> None:
    def nest(levels: int) -> Any:
        value: Any = "x"
        for _ in range(levels):
            value = [value]
        return value

    assert inputs.check_json(nest(inputs.MAX_DEPTH)) == nest(inputs.MAX_DEPTH)
    with pytest.raises(InputError, match="nested deeper than 32 levels"):
        inputs.check_json(nest(inputs.MAX_DEPTH + 1))


def test_free_text_keeps_tab_and_line_breaks_and_everything_is_normalised_to_nfc() -> None:
    assert inputs.check_text("第一行\r\n\t第二行", field="note") == "第一行\r\n\t第二行"
    assert inputs.check_text("Cafe\u0301", field="name") == "Caf\u00e9"
    assert inputs.check_text("\uf900", field="name") == "\u8c48"  # a CJK compatibility ideograph
    assert inputs.check_json({"a": ["e\u0301"]}) == {"a": ["\u00e9"]}


@pytest.mark.parametrize(
    ("day", "ok"),
    [
        (dt.date(1899, 12, 31), False),
        (dt.date(1900, 1, 1), True),
        (dt.date(2999, 12, 31), True),
        (dt.date(3000, 1, 1), False),
        (dt.date.min, False),
        (dt.date.max, False),
    ],
    ids=str,
)
def test_dates_are_bounded_to_1900_through_2999(day: dt.date, ok: bool) -> None:
    if ok:
        assert inputs.check_day(day, field="d") == day
    else:
        with pytest.raises(InputError, match="between 1900-01-01 and 2999-12-31"):
            inputs.check_day(day, field="d")


def test_a_computed_date_never_overflows() -> None:
    with pytest.raises(InputError, match="between"):
        inputs.add_days(dt.date.max, 1, field="valid_from")
    with pytest.raises(InputError, match="between"):
        inputs.add_days(dt.date.min, -1, field="valid_from")
    assert inputs.add_days(dt.date(2026, 12, 31), 1, field="f") == dt.date(2027, 1, 1)


_ANY_TEXT = st.text(st.characters(codec=None), max_size=40)  # surrogates and controls included


@settings(max_examples=300, derandomize=True, database=None)
@given(value=_ANY_TEXT, multiline=st.booleans())
def test_what_passes_is_nfc_encodable_text_without_forbidden_controls(
    value: str, multiline: bool
) -> None:
    try:
        out = inputs.check_text(value, field="f", multiline=multiline)
    except InputError:
        return
    out.encode("utf-8")  # every answer can encode it
    assert unicodedata.is_normalized("NFC", out)
    allowed = {"\t", "\n", "\r"} if multiline else set()
    assert all(unicodedata.category(c) != "Cc" or c in allowed for c in out)
    assert inputs.check_text(out, field="f", multiline=multiline) == out  # idempotent


@settings(max_examples=200, derandomize=True, database=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | _ANY_TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_ANY_TEXT, inner, max_size=4),
        max_leaves=20,
    )
)
def test_a_json_value_that_passes_can_be_stored_and_read_back(value: Any) -> None:
    try:
        out = inputs.check_json(value)
    except InputError:
        return
    text = json.dumps(out, ensure_ascii=False, allow_nan=False)
    assert json.loads(text.encode("utf-8")) == out


def test_every_operation_of_the_app_checks_its_input() -> None:
    """A new router cannot forget the rule: every API route is an EdgeRoute (which applies it)."""
    from fastapi.routing import APIRoute

    from elicence.api.app import create_app
    from elicence.api.edge import EdgeRoute

    def walk(routes: list[Any]) -> list[APIRoute]:
        out: list[APIRoute] = []
        for r in routes:
            if isinstance(r, APIRoute):
                out.append(r)
            elif hasattr(r, "original_router"):  # FastAPI keeps an included router whole
                out += walk(r.original_router.routes)
        return out

    routes = walk(create_app().routes)
    assert len(routes) > 50
    unchecked = [r.path for r in routes if not isinstance(r, EdgeRoute)]
    assert unchecked == []
