"""The SVG chart builder: whatever the labels and values, the SVG parses as XML and carries no
markup from its data; bars are proportional to their values; missing values show —, not 0;
empty and one-row charts, 0 % and 100 %, and long Chinese names (cut, whole in <title>)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elicence.templates.charts import (
    BAR_FONT,
    BAR_WIDTH,
    COLUMN_PLOT,
    MISSING,
    Datum,
    bar_chart,
    bar_length,
    clean,
    column_chart,
    fit,
    nice_maximum,
    text_width,
)
from elicence.templates.dashboard import Kind, formatted

NS = "{http://www.w3.org/2000/svg}"
LONG = "广东省广州市天河区人力资源和社会保障局劳动保障监察支队第三大队综合执法科"

values = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1),
)
data = st.lists(st.builds(Datum, label=st.text(), value=values, shown=st.text()), max_size=12)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def rows(svg: ET.Element, kind: str = "row") -> list[ET.Element]:
    return [g for g in svg.iter(f"{NS}g") if g.attrib.get("class", "").split()[0] == kind]


def bar_of(group: ET.Element) -> ET.Element | None:
    return next((r for r in group.iter(f"{NS}rect") if r.attrib["class"] == "bar"), None)


def texts(group: ET.Element) -> list[str]:
    return [t.text or "" for t in group.iter(f"{NS}text")]


@settings(max_examples=200, deadline=None)
@given(data=data, title=st.text(), top=st.text(), maximum=st.floats())
def test_any_labels_and_values_make_well_formed_svg(
    data: list[Datum], title: str, top: str, maximum: float
) -> None:
    for draw, kind in ((bar_chart, "row"), (column_chart, "col")):
        svg = parse(draw(data, ident="chart-x", title=title, maximum=maximum, top=top))
        assert svg.tag == f"{NS}svg" and svg.attrib["role"] == "img"
        assert svg.attrib["aria-labelledby"] == "chart-x-title"
        found = rows(svg, kind)
        assert len(found) == len(data)
        desc = svg.find(f"{NS}desc")
        assert desc is not None
        for d, g in zip(data, found, strict=True):
            tip = g.find(f"{NS}title")
            assert tip is not None
            # the whole label and the value as shown, in the bar's own <title> and the <desc>
            assert tip.text == f"{clean(d.label)}：{clean(d.text())}"
            assert f"{clean(d.label)}：{clean(d.text())}" in (desc.text or "")
            if not d.known:
                assert bar_of(g) is None and MISSING in texts(g)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=30),
    st.sampled_from([1.0, 2.5, 100.0]),
)
def test_bars_are_proportional_to_their_values(raw: list[float], maximum: float) -> None:
    vals = [v * maximum / 100 for v in raw]
    chart = [Datum(f"第{i}组", v) for i, v in enumerate(vals)]
    bars = parse(bar_chart(chart, ident="b", title="t", maximum=maximum, top="max"))
    cols = parse(column_chart(chart, ident="c", title="t", maximum=maximum, top="max"))
    widths = [float(bar_of(g).attrib["width"]) for g in rows(bars)]  # type: ignore[union-attr]
    heights = [float(bar_of(g).attrib["height"]) for g in rows(cols, "col")]  # type: ignore[union-attr]
    for v, w, h in zip(vals, widths, heights, strict=True):
        assert w == pytest.approx(BAR_WIDTH * v / maximum, abs=0.006)
        assert h == pytest.approx(COLUMN_PLOT * v / maximum, abs=0.006)
    top_bar = [float(b.attrib["y"]) for g in rows(cols, "col") if (b := bar_of(g)) is not None]
    for y, h in zip(top_bar, heights, strict=True):
        assert y + h == pytest.approx(30 + COLUMN_PLOT, abs=0.01)  # every column on the baseline
    for (v1, w1), (v2, w2) in zip(
        zip(vals, widths, strict=True), zip(vals[1:], widths[1:], strict=True), strict=False
    ):
        if v1 > maximum / 100 and v2 > maximum / 100:
            assert w1 / w2 == pytest.approx(v1 / v2, rel=0.01)


def test_zero_and_full_rates_and_a_missing_one() -> None:
    chart = [
        Datum("全满", 1.0, formatted(Kind.RATE, 1.0)),
        Datum("为零", 0.0, formatted(Kind.RATE, 0.0)),
        Datum("无评价", None, formatted(Kind.RATE, None)),
    ]
    svg = parse(bar_chart(chart, ident="r", title="服务满意率", maximum=1.0, top="100%"))
    full, zero, missing = rows(svg)
    assert bar_of(full).attrib["width"] == str(BAR_WIDTH)  # type: ignore[union-attr]
    assert "100.00%" in texts(full)
    assert bar_of(zero).attrib["width"] == "0" and "0.00%" in texts(zero)  # type: ignore[union-attr]
    assert bar_of(missing) is None and "—" in texts(missing)
    assert not any("0.00%" in t or t == "0" for t in texts(missing))  # undefined is not 0 %
    desc = svg.find(f"{NS}desc")
    assert desc is not None and desc.text == (
        "刻度 Scale 0–100%。全满：100.00%；为零：0.00%；无评价：—"
    )


@pytest.mark.parametrize(
    ("value", "width"),
    [(-0.5, 0.0), (2.0, 360.0), (math.nan, 0.0), (math.inf, 0.0), (None, 0.0), (0.25, 90.0)],
    ids=["negative", "over-the-top", "nan", "infinite", "none", "quarter"],
)
def test_bar_lengths_are_clamped_to_the_scale(value: float | None, width: float) -> None:
    assert bar_length(value, 1.0, BAR_WIDTH) == width


def test_an_empty_scale_draws_no_bar() -> None:
    assert bar_length(3.0, 0.0, BAR_WIDTH) == 0.0
    assert bar_length(3.0, math.nan, BAR_WIDTH) == 0.0


def test_no_rows_and_one_row() -> None:
    for draw in (bar_chart, column_chart):
        empty = parse(draw([], ident="e", title="空", maximum=1.0, top="100%"))
        assert rows(empty) == [] and rows(empty, "col") == []
        assert "无数据 No data" in "".join(empty.itertext())
        one = parse(
            draw([Datum("唯一", 0.5, "50.00%")], ident="o", title="一", maximum=1.0, top="100%")
        )
        assert len(rows(one)) + len(rows(one, "col")) == 1
    # the viewBox follows the number of rows, not the values
    a = parse(bar_chart([Datum("甲", 0.1)], ident="a", title="t", maximum=1.0, top="1"))
    b = parse(bar_chart([Datum("乙", 0.9)], ident="a", title="t", maximum=1.0, top="1"))
    two = parse(bar_chart([Datum("甲", 0.1)] * 2, ident="a", title="t", maximum=1.0, top="1"))
    assert a.attrib["viewBox"] == b.attrib["viewBox"] == "0 0 360 68"
    assert two.attrib["viewBox"] == "0 0 360 110"
    assert (
        parse(column_chart([], ident="c", title="t", maximum=1.0, top="1")).attrib["viewBox"]
        == parse(
            column_chart([Datum("x", 1)] * 12, ident="c", title="t", maximum=1, top="1")
        ).attrib["viewBox"]
    )


def test_long_chinese_names_are_cut_and_whole_in_their_title() -> None:
    svg = parse(
        bar_chart(
            [Datum(LONG, 0.5, "50.00%（1/2）")], ident="l", title="t", maximum=1.0, top="100%"
        )
    )
    [row] = rows(svg)
    label, value = texts(row)
    assert label.endswith("…") and LONG.startswith(label[:-1]) and len(label) < len(LONG)
    assert text_width(label, BAR_FONT) + text_width(value, BAR_FONT) <= BAR_WIDTH
    tip = row.find(f"{NS}title")
    assert tip is not None and tip.text == f"{LONG}：50.00%（1/2）"
    short = parse(
        bar_chart([Datum("天河区民政局", 0.5)], ident="s", title="t", maximum=1.0, top="1")
    )
    assert texts(rows(short)[0])[0] == "天河区民政局"  # what fits is not cut


def test_labels_are_escaped_not_markup() -> None:
    evil = '<script>alert("x")</script> & <a href="javascript:1">'
    svg_text = bar_chart([Datum(evil, 0.5)], ident="x", title=evil, maximum=1.0, top=evil)
    assert "<script" not in svg_text and "<a " not in svg_text
    svg = parse(svg_text)
    assert svg.find(f"{NS}script") is None and svg.find(f"{NS}a") is None
    tip = rows(svg)[0].find(f"{NS}title")
    assert tip is not None and tip.text is not None and tip.text.startswith(evil)


def test_characters_xml_cannot_carry_are_dropped() -> None:
    assert clean("天河\x00区\x0b民政局\ufffe\n 二") == "天河区民政局 二"
    parse(bar_chart([Datum("a\x01b\ud800", 0.5)], ident="z", title="\x1f", maximum=1, top="\x00"))


@pytest.mark.parametrize(
    ("vals", "top"),
    [
        ([], 1.0),
        ([None, None], 1.0),
        ([0.4], 1.0),
        ([1.0], 1.0),
        ([1.2], 2.0),
        ([2.1], 2.5),
        ([3.0], 5.0),
        ([7.5, 2.0], 10.0),
        ([12.0], 20.0),
        ([math.inf, 0.2], 1.0),
    ],
    ids=["none", "all-missing", "below-one", "one", "1.2", "2.1", "3", "7.5", "12", "infinite"],
)
def test_nice_maximum(vals: list[float | None], top: float) -> None:
    assert nice_maximum(vals) == top


def test_fit() -> None:
    assert fit("广州市", 100, 14) == "广州市"
    assert fit("广州市天河区", 50, 14) == "广州…"
    assert fit("广州市", 5, 14) == "…"


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        (Kind.RATE, None, "—"),
        (Kind.RATE, 0.0, "0.00%"),
        (Kind.RATE, 1.0, "100.00%"),
        (Kind.RATE, 2 / 3, "66.67%"),
        (Kind.RATE, 0.12345, "12.35%"),  # from the API's 4-place value, 0.1235
        (Kind.VISITS, 0.5, "0.50"),
        (Kind.SCORE, 65.716, "65.72"),
        (Kind.SCORE, None, "—"),
    ],
    ids=["missing", "zero", "full", "two-thirds", "api-rounding", "visits", "score", "no-score"],
)
def test_formatted(kind: Kind, value: float | None, shown: str) -> None:
    assert formatted(kind, value) == shown
