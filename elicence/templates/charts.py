"""Bar charts as inline SVG, drawn on the server: no script, no external resource, no style
attribute (the pages' CSP forbids inline styles; colours come from presentation attributes,
which ``site.css`` may override by class).

Two kinds: :func:`bar_chart` (horizontal bars, one row per group: long Chinese names read on a
phone) and :func:`column_chart` (vertical columns, one per period: a trend).

Invariants:

- every label and value text is data: it reaches the SVG only through ElementTree, which
  escapes it, after characters XML 1.0 cannot carry are dropped, so the SVG always parses as
  XML and never carries markup from its data;
- the viewBox is fixed by the kind of chart and the number of data (never by their values);
- a bar's length is proportional to its value: ``value / maximum`` of the plot's length,
  clamped to [0, maximum]; a missing value (``None``, NaN, ±∞: nothing to count) draws no bar
  and shows ``—``, never 0;
- the chart is ``role="img"`` named by its ``<title>`` and described by its ``<desc>``, which
  states the scale and every datum's label and shown value: the numbers read without the
  picture; each bar repeats its full label and value in its own ``<title>`` (a truncated label
  is whole there).
"""

from __future__ import annotations

import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

MISSING = "—"
SVG_NS = "http://www.w3.org/2000/svg"

# horizontal bars: a row is the label (left) and the value (right) over a bar across the width
BAR_WIDTH = 360
BAR_TOP = 22  # the scale's line
BAR_ROW = 42
BAR_FONT = 14
BAR_THICKNESS = 12

# columns: value above, label below, a column per datum
COLUMN_WIDTH = 360
COLUMN_TOP = 30
COLUMN_PLOT = 150
COLUMN_FONT = 11
COLUMN_VALUE_FONT = 9
COLUMN_BOTTOM = 36  # the label, and under it a note (the year at the first month and each January)

# XML 1.0's Char production, negated
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Datum:
    """One bar: its label, its value (None: nothing to count) and the value as shown."""

    label: str
    value: float | None
    shown: str = ""  # "" shows the value as it is, or — where it is missing
    title: str = ""  # the full label, where ``label`` is a short form (defaults to ``label``)
    selected: bool = False  # drawn emphasised (bold label and a darker bar)
    note: str = ""  # a column's second line under its label

    @property
    def known(self) -> bool:
        return self.value is not None and math.isfinite(self.value)

    def text(self) -> str:
        if not self.known:
            return MISSING
        return self.shown or f"{self.value:g}"


def clean(text: str) -> str:
    """``text`` on one line, without the characters XML 1.0 cannot carry."""
    return _SPACES.sub(" ", _NOT_XML.sub("", text)).strip()


def text_width(text: str, font_size: float) -> float:
    """An estimate of ``text``'s width: CJK and other wide characters 1 em, the rest 0.62 em
    (wide enough for digits and Latin letters in the pages' sans-serif fonts)."""
    return font_size * sum(
        1.0 if unicodedata.east_asian_width(ch) in ("W", "F") else 0.62 for ch in text
    )


def fit(text: str, width: float, font_size: float) -> str:
    """``text`` cut to fit ``width``, ending in … where it was cut."""
    if text_width(text, font_size) <= width:
        return text
    out = text
    while out and text_width(out + "…", font_size) > width:
        out = out[:-1]
    return out + "…" if out else "…"


def nice_maximum(values: Iterable[float | None], *, floor: float = 1.0) -> float:
    """The top of a scale for open-ended values: the least 1, 2, 2.5 or 5 × 10ⁿ at or above
    the largest finite value, and at least ``floor``."""
    top = max((v for v in values if v is not None and math.isfinite(v)), default=0.0)
    top = max(top, floor)
    exponent = math.floor(math.log10(top))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= top:
            return candidate
    return 10.0 ** (exponent + 1)  # pragma: no cover - 10 × 10ⁿ is always enough


def bar_length(value: float | None, maximum: float, length: float) -> float:
    """The length of a bar for ``value`` on a scale of 0 to ``maximum`` drawn ``length`` long
    (clamped to the scale; 0 for a missing value or an empty scale)."""
    if value is None or not math.isfinite(value) or maximum <= 0 or not math.isfinite(maximum):
        return 0.0
    return round(length * min(max(value, 0.0), maximum) / maximum, 2)


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _svg(ident: str, width: int, height: int, title: str, desc: str, kind: str) -> ET.Element:
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": f"0 0 {width} {height}",
            "class": f"chart-svg {kind}",
            "role": "img",
            "aria-labelledby": f"{ident}-title",
            "aria-describedby": f"{ident}-desc",
            "focusable": "false",
        },
    )
    ET.SubElement(svg, "title", {"id": f"{ident}-title"}).text = clean(title)
    ET.SubElement(svg, "desc", {"id": f"{ident}-desc"}).text = clean(desc)
    return svg


def _text(parent: ET.Element, x: float, y: float, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, "text", {"x": _num(x), "y": _num(y), **attrs})
    el.text = text
    return el


def _describe(data: Sequence[Datum], top: str, empty: str) -> str:
    scale = f"刻度 Scale 0–{clean(top)}"
    if not data:
        return f"{scale}。{clean(empty)}"
    return f"{scale}。" + "；".join(f"{clean(d.title or d.label)}：{clean(d.text())}" for d in data)


def _markup(svg: ET.Element) -> Markup:
    # ElementTree escapes every text and attribute; labels were cleaned of what XML refuses
    return Markup(ET.tostring(svg, encoding="unicode"))  # noqa: S704


def bar_chart(
    data: Sequence[Datum],
    *,
    ident: str,
    title: str,
    maximum: float,
    top: str,
    empty: str = "无数据 No data",
) -> Markup:
    """Horizontal bars, one row per datum in the order given, on a scale from 0 to ``maximum``
    (``top`` shows it, e.g. "100%")."""
    rows = max(len(data), 1)
    height = BAR_TOP + rows * BAR_ROW + 4
    svg = _svg(ident, BAR_WIDTH, height, title, _describe(data, top, empty), "bars")
    axis = ET.SubElement(svg, "g", {"class": "axis"})
    _text(axis, 0, 14, "0", **{"font-size": "12", "fill": "#444"})
    _text(
        axis,
        BAR_WIDTH,
        14,
        clean(top),
        **{"font-size": "12", "fill": "#444", "text-anchor": "end"},
    )
    ET.SubElement(
        axis,
        "line",
        {"x1": "0", "y1": "18", "x2": str(BAR_WIDTH), "y2": "18", "stroke": "#888"},
    )
    if not data:
        _text(svg, 0, BAR_TOP + 20, clean(empty), **{"font-size": str(BAR_FONT), "fill": "#111"})
        return _markup(svg)
    for i, d in enumerate(data):
        y = BAR_TOP + i * BAR_ROW
        full = clean(d.title or d.label)
        value = clean(d.text())
        row = ET.SubElement(svg, "g", {"class": "row selected" if d.selected else "row"})
        ET.SubElement(row, "title").text = f"{full}：{value}"
        value_width = text_width(value, BAR_FONT)
        label = fit(clean(d.label), BAR_WIDTH - value_width - 10, BAR_FONT)
        weight = {"font-weight": "bold"} if d.selected else {}
        _text(row, 0, y + 15, label, **{"font-size": str(BAR_FONT), "fill": "#111", **weight})
        _text(
            row,
            BAR_WIDTH,
            y + 15,
            value,
            **{"font-size": str(BAR_FONT), "fill": "#111", "text-anchor": "end", **weight},
        )
        bar_y = _num(y + 21)
        if d.known:  # a missing value draws neither bar nor track: it is not an empty bar
            ET.SubElement(
                row,
                "rect",
                {
                    "class": "track",
                    "x": "0",
                    "y": bar_y,
                    "width": str(BAR_WIDTH),
                    "height": str(BAR_THICKNESS),
                    "fill": "#e4e9ef",
                },
            )
            ET.SubElement(
                row,
                "rect",
                {
                    "class": "bar",
                    "x": "0",
                    "y": bar_y,
                    "width": _num(bar_length(d.value, maximum, BAR_WIDTH)),
                    "height": str(BAR_THICKNESS),
                    "fill": "#0a3d6e" if d.selected else "#2f6fae",
                },
            )
    return _markup(svg)


def column_chart(
    data: Sequence[Datum],
    *,
    ident: str,
    title: str,
    maximum: float,
    top: str,
    empty: str = "无数据 No data",
) -> Markup:
    """Vertical columns, one per datum left to right (a trend, oldest first); labels are
    short (``title`` holds the full one) and cut to their column's width."""
    height = COLUMN_TOP + COLUMN_PLOT + COLUMN_BOTTOM
    svg = _svg(ident, COLUMN_WIDTH, height, title, _describe(data, top, empty), "columns")
    base = COLUMN_TOP + COLUMN_PLOT
    axis = ET.SubElement(svg, "g", {"class": "axis"})
    _text(axis, 0, 12, clean(top), **{"font-size": "12", "fill": "#444"})
    for y in (COLUMN_TOP, base):
        ET.SubElement(
            axis,
            "line",
            {
                "x1": "0",
                "y1": str(y),
                "x2": str(COLUMN_WIDTH),
                "y2": str(y),
                "stroke": "#888" if y == base else "#ccc",
            },
        )
    if not data:
        _text(svg, 0, COLUMN_TOP + 40, clean(empty), **{"font-size": "14", "fill": "#111"})
        return _markup(svg)
    slot = COLUMN_WIDTH / len(data)
    thickness = max(1.0, min(slot * 0.6, 48.0))
    for i, d in enumerate(data):
        centre = slot * i + slot / 2
        full = clean(d.title or d.label)
        value = clean(d.text())
        col = ET.SubElement(svg, "g", {"class": "col selected" if d.selected else "col"})
        ET.SubElement(col, "title").text = f"{full}：{value}"
        length = bar_length(d.value, maximum, COLUMN_PLOT)
        if d.known:
            ET.SubElement(
                col,
                "rect",
                {
                    "class": "bar",
                    "x": _num(centre - thickness / 2),
                    "y": _num(base - length),
                    "width": _num(thickness),
                    "height": _num(length),
                    "fill": "#0a3d6e" if d.selected else "#2f6fae",
                },
            )
        _text(
            col,
            centre,
            base - length - 4,
            fit(value, slot - 2, COLUMN_VALUE_FONT),
            **{"font-size": str(COLUMN_VALUE_FONT), "fill": "#111", "text-anchor": "middle"},
        )
        _text(
            col,
            centre,
            base + 16,
            fit(clean(d.label), slot - 2, COLUMN_FONT),
            **{"font-size": str(COLUMN_FONT), "fill": "#111", "text-anchor": "middle"},
        )
        if d.note:
            _text(
                col,
                centre,
                base + 31,
                fit(clean(d.note), slot - 2, COLUMN_FONT),
                **{"font-size": str(COLUMN_FONT), "fill": "#444", "text-anchor": "middle"},
            )
    return _markup(svg)
