"""Templates: licence layouts and PDF rendering (reportlab), one layout per catalogue template.

A licence page is A4, in Chinese, with English labels where the licence type says so: the type's
name, the licence number, the holder, the type's data items with their catalogue labels, the
validity, the issuing department with its seal mark, the issue date, the identifier and the QR
code of the verification URL (:func:`elicence.templates.qr.make_qr`).

Invariants:
- the font is loaded once per renderer and CJK text is embedded as a subset of it;
- what is the same for every licence of a type (frame, title, labels, the department's seal mark)
  is laid out once per type and department and drawn once per document as a form XObject;
- every character printed is in the font: :meth:`LicenceRenderer.check_printable` refuses a
  request whose text the font cannot show, naming the field, before anything is stored;
- a missing optional data item leaves no row at all (no gap, no "None"); long values wrap, and
  a licence whose items do not fit one page shrinks its value text, then continues on more pages.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from elicence.domain.catalogue import (
    Department,
    HolderCategory,
    HolderIdType,
    ItemType,
    LicenceType,
)
from elicence.domain.licence import CHINA_TZ, DraftFields, IssuanceRequest, Licence
from elicence.errors import InputError, SettingsError
from elicence.templates.qr import make_qr

DEFAULT_FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT_LABEL = "WenQuanYi Micro Hei"

PAGE_W, PAGE_H = A4
MARGIN = 42.0  # outer frame
INNER = 64.0  # text area left and right
BODY_TOP = PAGE_H - 190.0
FOOTER_TOP = 250.0  # the body ends above the footer (department, seal mark, QR, identifier)
PAGE_BOTTOM = 80.0  # body limit on continuation pages (no footer there)
VALUE_SIZES = (11.0, 10.0, 9.0, 8.0, 7.0)
LABEL_SIZE = 10.5
LABEL_EN_SIZE = 7.0
ROW_GAP = 7.0
RED = (0.80, 0.08, 0.08)
QR_MASK = 2  # a fixed mask pattern: the best-mask search would cost 15 ms a licence
# Binary (Flate only) streams: ASCII85 is pure Python here and only makes the file bigger.
rl_config.useA85 = 0


@dataclass(frozen=True, slots=True)
class Layout:
    """How one template looks; the rest of the page is shared."""

    name: str
    frame: tuple[float, float, float]
    double_frame: bool
    title_size: float
    title_spacing: float  # extra space between title characters, in points
    label_width: float
    uscc_header: bool  # the holder's USCC printed above the body, as on a 营业执照


LAYOUTS: Mapping[str, Layout] = {
    "business_licence": Layout("business_licence", (0.55, 0.20, 0.10), True, 34, 14, 118, True),
    "permit": Layout("permit", (0.10, 0.25, 0.50), True, 26, 6, 150, False),
    "certificate": Layout("certificate", (0.70, 0.10, 0.10), True, 30, 10, 130, False),
    "default": Layout("default", (0.20, 0.20, 0.20), False, 24, 2, 140, False),
}


def layout_for(licence_type: LicenceType) -> Layout:
    """The layout the catalogue names for a licence type (unknown names: the default)."""
    return LAYOUTS.get(licence_type.template, LAYOUTS["default"])


@dataclass(frozen=True, slots=True)
class _Row:
    label_zh: str
    label_en: str | None
    value: str


@dataclass(frozen=True, slots=True)
class _Static:
    """What is the same for every licence of one type from one department."""

    layout: Layout
    title: str
    title_en: str | None
    seal_ring: tuple[tuple[str, float], ...]  # characters of the seal mark and their angles


def _china_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True)
class _LoadedFont:
    font: TTFont
    widths: Mapping[int, int]
    printable: frozenset[str]
    default_width: int


# One parse of each font file per process (a CJK font's tables are some 30 MB of Python
# objects): every renderer of the same file shares it, as reportlab's font registry does.
_FONTS: dict[tuple[str, int], _LoadedFont] = {}
_FONTS_LOCK = threading.Lock()


def _load_font(name: str, path: Path, subfont_index: int) -> _LoadedFont:
    key = (str(path), subfont_index)
    with _FONTS_LOCK:
        found = _FONTS.get(key)
        if found is not None:
            return found
        try:
            font = TTFont(name, str(path), subfontIndex=subfont_index)
        except Exception as e:  # reportlab raises TTFError, OSError, struct.error …
            raise SettingsError(
                f"the licence font {path} cannot be loaded: {e}", field="font_path"
            ) from e
        pdfmetrics.registerFont(font)
        widths = dict(font.face.charWidths)
        found = _FONTS[key] = _LoadedFont(
            font, widths, frozenset(map(chr, widths)), int(font.face.defaultWidth)
        )
        return found


class LicenceRenderer:
    """Renders licences to unsigned PDFs with one font, loaded once per process (thread-safe)."""

    def __init__(self, font_path: Path = DEFAULT_FONT_PATH, *, subfont_index: int = 0) -> None:
        self.font_path = font_path
        self._subfont_index = subfont_index
        digest = hashlib.sha256(f"{font_path}:{subfont_index}".encode()).hexdigest()[:10]
        self.font_name = f"EL-{digest}"
        self._font: TTFont | None = None
        self._widths: Mapping[int, int] = {}
        self._printable: frozenset[str] = frozenset()
        self._default_width = 1000
        self._lock = threading.Lock()
        self._static: dict[tuple[LicenceType, Department], _Static] = {}

    # -- the font ---------------------------------------------------------------------------

    def _load(self) -> TTFont:
        font = self._font
        if font is not None:
            return font
        with self._lock:
            if self._font is None:
                loaded = _load_font(self.font_name, self.font_path, self._subfont_index)
                self._widths = loaded.widths
                self._printable = loaded.printable
                self._default_width = loaded.default_width
                self._font = loaded.font
            return self._font

    def missing_glyphs(self, text: str) -> list[str]:
        """The characters of ``text`` the font cannot show (in order, without repeats)."""
        self._load()
        if self._printable.issuperset(text):  # the common case, at C speed
            return []
        widths = self._widths
        missing: list[str] = []
        for ch in text:
            if ord(ch) not in widths and ch not in missing:
                missing.append(ch)
        return missing

    def check_printable(
        self,
        request: IssuanceRequest,
        names: DraftFields = DraftFields(),  # noqa: B008 - frozen
    ) -> None:
        """Refuse a request with text the licence font cannot print; names the field (as the
        request names it, or as ``names`` say for a use case's draft)."""
        self._load()
        printable = self._printable.issuperset  # the common case: every text printable
        if (
            printable(request.licence_number)
            and printable(request.holder.name)
            and printable(request.holder.id_number)
            and all(map(printable, request.data.values()))
        ):
            return
        fields: list[tuple[str, str]] = [
            (names.licence_number, request.licence_number),
            (f"{names.holder}.name", request.holder.name),
            (f"{names.holder}.id_number", request.holder.id_number),
            *((f"{names.data}.{k}", v) for k, v in request.data.items()),
        ]
        for field, text in fields:
            missing = self.missing_glyphs(text)
            if missing:
                chars = "、".join(f"{c} (U+{ord(c):04X})" for c in missing)
                raise InputError(
                    f"contains {chars}, which the licence font ({FONT_LABEL}) cannot print, so "
                    "no licence document could be made; write the character in a form the font "
                    "has, or ask the service to install a font with it",
                    field=field,
                    code="unprintable_character",
                )

    def _width(self, text: str, size: float) -> float:
        widths, default = self._widths, self._default_width
        return sum(widths.get(ord(c), default) for c in text) * size / 1000.0

    def wrap(self, text: str, width: float, size: float) -> list[str]:
        """Break ``text`` into lines no wider than ``width`` (CJK anywhere, Latin at spaces)."""
        self._load()
        lines: list[str] = []
        for paragraph in text.splitlines() or [""]:
            line, line_w = "", 0.0
            for ch in paragraph:
                w = self._widths.get(ord(ch), self._default_width) * size / 1000.0
                if line and line_w + w > width:
                    cut = line.rfind(" ")
                    if ch.isascii() and ch.isalnum() and cut > len(line) // 2:
                        # break a Latin word at the last space instead of inside the word
                        lines.append(line[:cut])
                        line = line[cut + 1 :]
                        line_w = self._width(line, size)
                    else:
                        lines.append(line)
                        line, line_w = "", 0.0
                    if ch == " " and not line:
                        continue
                line += ch
                line_w += w
            lines.append(line)
        return lines

    # -- what a licence says ----------------------------------------------------------------

    def _rows(self, licence: Licence, licence_type: LicenceType) -> list[_Row]:
        en = licence_type.english_labels
        person = licence_type.holder_category is HolderCategory.NATURAL_PERSON
        id_type = licence.holder.id_type
        if id_type is HolderIdType.USCC:
            id_label = ("统一社会信用代码", "Unified social credit code")
        elif id_type is HolderIdType.RESIDENT_ID:
            id_label = ("公民身份号码", "Citizen ID number")
        else:
            id_label = ("证件号码", "ID number")
        rows = [
            _Row(*(("姓名", "Name") if person else ("名称", "Name")), licence.holder.name),
            _Row(id_label[0], id_label[1], licence.holder.id_number),
        ]
        for item in licence_type.data_items:
            value = licence.data.get(item.name)
            if value is None or not str(value).strip():
                continue  # a missing optional item leaves no row at all
            if item.type is ItemType.DATE:
                with contextlib.suppress(ValueError):
                    value = _china_date(dt.date.fromisoformat(value))
            rows.append(_Row(item.label_zh, item.label_en, str(value)))
        if licence.valid_until is None:
            validity = f"自{_china_date(licence.valid_from)}起长期有效"
        else:
            validity = f"{_china_date(licence.valid_from)} 至 {_china_date(licence.valid_until)}"
        rows.append(_Row("有效期限", "Period of validity", validity))
        if not en:
            rows = [_Row(r.label_zh, None, r.value) for r in rows]
        return rows

    def _static_for(self, licence_type: LicenceType, department: Department) -> _Static:
        key = (licence_type, department)
        cached = self._static.get(key)
        if cached is not None:
            return cached
        name = department.name_zh
        # the department's name around the upper arc of the seal mark, centred on the top
        span = min(250.0, 22.0 * len(name))
        step = span / max(1, len(name) - 1) if len(name) > 1 else 0.0
        ring = tuple((ch, 90.0 + span / 2 - i * step) for i, ch in enumerate(name))
        static = _Static(
            layout=layout_for(licence_type),
            title=licence_type.name_zh,
            title_en=licence_type.name_en if licence_type.english_labels else None,
            seal_ring=ring,
        )
        if len(self._static) > 4096:
            self._static.clear()
        self._static[key] = static
        return static

    # -- drawing ----------------------------------------------------------------------------

    def render(
        self,
        licence: Licence,
        *,
        licence_type: LicenceType,
        department: Department,
        public_base_url: str,
        draft: bool = False,
    ) -> bytes:
        """The unsigned PDF of ``licence`` (its seal in the QR code and in the Keywords).

        ``draft``: a preview of a licence not yet issued (no seal, no QR code, no identifier),
        marked 草稿 DRAFT across every page.
        """
        self._load()
        static = self._static_for(licence_type, department)
        qr = None if draft else make_qr(public_base_url, licence.seal, mask=QR_MASK)
        rows = self._rows(licence, licence_type)
        for text in (
            licence_type.name_zh,
            department.name_zh,
            *(r.label_zh for r in rows),
            *(r.label_en or "" for r in rows),
            *(r.value for r in rows),
        ):
            missing = self.missing_glyphs(text)
            if missing:  # catalogue text: the request's own text was checked at issuance
                raise InputError(
                    f"the licence font ({FONT_LABEL}) cannot print {''.join(missing)!r} "
                    f"in {text!r}",
                    field="catalogue",
                    code="unprintable_character",
                )
        buf = io.BytesIO()
        with self._lock:  # reportlab keeps per-document font state on the shared font object
            c = Canvas(buf, pagesize=A4, pageCompression=1)
            c.setTitle(f"{licence_type.name_zh} {licence.identifier}")
            c.setAuthor(department.name_zh)
            c.setSubject(licence.identifier)
            c.setKeywords(licence.seal)
            c.setCreator("elicence")
            self._draw_static_form(c, static)
            pages = self._paginate(rows, static.layout)
            for number, (page_rows, size) in enumerate(pages, start=1):
                c.doForm("static")
                if static.layout.uscc_header and number == 1:
                    self._draw_header(c, licence)
                self._draw_number(c, licence)
                self._draw_rows(c, page_rows, static.layout, size)
                if len(pages) > 1:
                    c.setFont(self.font_name, 8)
                    c.drawRightString(
                        PAGE_W - INNER, MARGIN + 10, f"第 {number} 页 / 共 {len(pages)} 页"
                    )
                if number == len(pages):
                    self._draw_footer(c, licence, department, static, qr)
                if draft:
                    self._draw_draft_mark(c)
                c.showPage()
            c.save()
        return buf.getvalue()

    def _draw_static_form(self, c: Canvas, static: _Static) -> None:
        lay = static.layout
        c.beginForm("static")
        c.setStrokeColorRGB(*lay.frame)
        c.setLineWidth(2.2)
        c.rect(MARGIN, MARGIN, PAGE_W - 2 * MARGIN, PAGE_H - 2 * MARGIN, stroke=1, fill=0)
        if lay.double_frame:
            c.setLineWidth(0.8)
            c.rect(MARGIN + 6, MARGIN + 6, PAGE_W - 2 * MARGIN - 12, PAGE_H - 2 * MARGIN - 12)
        c.setFillColorRGB(*lay.frame)
        c.setFont(self.font_name, lay.title_size)
        title_w = self._width(static.title, lay.title_size) + lay.title_spacing * (
            len(static.title) - 1
        )
        title_y = PAGE_H - 120
        if lay.uscc_header:
            title_y = PAGE_H - 135
        c.drawString((PAGE_W - title_w) / 2, title_y, static.title, charSpace=lay.title_spacing)
        if static.title_en:
            c.setFont(self.font_name, 11)
            c.drawCentredString(PAGE_W / 2, title_y - 20, static.title_en)
        c.setFillColorRGB(0, 0, 0)
        c.endForm()

    def _draw_header(self, c: Canvas, licence: Licence) -> None:
        c.setFillColorRGB(0, 0, 0)
        c.setFont(self.font_name, 9.5)
        label = "统一社会信用代码" if licence.holder.id_type is HolderIdType.USCC else "证件号码"
        c.drawString(INNER, PAGE_H - 82, f"{label}  {licence.holder.id_number}")

    def _draw_number(self, c: Canvas, licence: Licence) -> None:
        c.setFillColorRGB(0, 0, 0)
        c.setFont(self.font_name, 9.5)
        c.drawRightString(PAGE_W - INNER, PAGE_H - 82, f"证照编号 No. {licence.licence_number}")

    def _row_height(self, row: _Row, lay: Layout, size: float) -> tuple[list[str], float]:
        value_w = PAGE_W - 2 * INNER - lay.label_width
        lines = self.wrap(row.value, value_w, size)
        label_lines = self.wrap(row.label_zh, lay.label_width - 10, LABEL_SIZE)
        label_h = len(label_lines) * LABEL_SIZE * 1.3 + (
            LABEL_EN_SIZE * 1.4 if row.label_en else 0.0
        )
        return lines, max(label_h, len(lines) * size * 1.45) + ROW_GAP

    def _paginate(
        self, rows: Sequence[_Row], lay: Layout
    ) -> list[tuple[list[tuple[_Row, list[str], float]], float]]:
        """Rows per page: the largest value size at which all fits one page, else several."""
        for size in VALUE_SIZES:
            measured = [(r, *self._row_height(r, lay, size)) for r in rows]
            if sum(h for _, _, h in measured) <= BODY_TOP - FOOTER_TOP:
                return [(measured, size)]
        size = VALUE_SIZES[-1]
        pages: list[tuple[list[tuple[_Row, list[str], float]], float]] = []
        current: list[tuple[_Row, list[str], float]] = []
        room = BODY_TOP - PAGE_BOTTOM
        for r in rows:
            lines, height = self._row_height(r, lay, size)
            line_h = size * 1.45
            while height > room and len(lines) > 1:
                # split a long value across pages, line by line
                fit = max(1, int((room - ROW_GAP) // line_h))
                if fit >= len(lines):
                    break
                current.append((r, lines[:fit], room))
                pages.append((current, size))
                current, room = [], BODY_TOP - PAGE_BOTTOM
                lines = lines[fit:]
                height = len(lines) * line_h + ROW_GAP
            if height > room and current:
                pages.append((current, size))
                current, room = [], BODY_TOP - PAGE_BOTTOM
            current.append((r, lines, height))
            room -= height
        if current:
            pages.append((current, size))
        # the footer needs room on the last page
        if room < FOOTER_TOP - PAGE_BOTTOM:
            pages.append(([], size))
        return pages

    def _draw_rows(
        self, c: Canvas, rows: Sequence[tuple[_Row, list[str], float]], lay: Layout, size: float
    ) -> None:
        y = BODY_TOP
        x_value = INNER + lay.label_width
        for row, lines, height in rows:
            c.setFillColorRGB(0.15, 0.15, 0.15)
            c.setFont(self.font_name, LABEL_SIZE)
            label_lines = self.wrap(row.label_zh, lay.label_width - 10, LABEL_SIZE)
            ly = y - LABEL_SIZE
            for text in label_lines:
                c.drawString(INNER, ly, text)
                ly -= LABEL_SIZE * 1.3
            if row.label_en:
                c.setFont(self.font_name, LABEL_EN_SIZE)
                c.drawString(INNER, ly + LABEL_SIZE * 1.3 - LABEL_EN_SIZE * 1.5, row.label_en)
            c.setFillColorRGB(0, 0, 0)
            c.setFont(self.font_name, size)
            vy = y - size
            for text in lines:
                c.drawString(x_value, vy, text)
                vy -= size * 1.45
            y -= height

    def _draw_footer(
        self,
        c: Canvas,
        licence: Licence,
        department: Department,
        static: _Static,
        qr: segno.QRCode | None,
    ) -> None:
        en = static.title_en is not None
        # the issuing department and the date, with the seal mark over them
        x_right = PAGE_W - INNER - 20
        c.setFillColorRGB(0, 0, 0)
        c.setFont(self.font_name, 10.5)
        c.drawRightString(x_right, 205, f"发证机关：{department.name_zh}")
        issued = licence.issued_at.astimezone(CHINA_TZ).date()
        c.drawRightString(x_right, 185, f"发证日期：{_china_date(issued)}")
        if en:
            c.setFont(self.font_name, 7)
            c.drawRightString(x_right, 196, f"Issuing authority: {department.name_en}")
            c.drawRightString(x_right, 176, f"Date of issue: {issued.isoformat()}")
        self._draw_seal_mark(c, static, x_right - 70, 200)
        # the QR code and its caption
        qr_size = 118.0
        if qr is None:  # a draft: nothing is sealed, so there is nothing to scan
            c.saveState()
            c.setDash(4, 3)
            c.rect(INNER, 92, qr_size, qr_size)
            c.setFont(self.font_name, 10)
            c.drawCentredString(INNER + qr_size / 2, 92 + qr_size / 2 + 4, "草稿 无二维码")
            c.setFont(self.font_name, 7)
            c.drawCentredString(INNER + qr_size / 2, 92 + qr_size / 2 - 8, "Draft: no QR code")
            c.restoreState()
        else:
            self._draw_qr(c, qr, INNER, 92, qr_size)
        c.setFont(self.font_name, 8.5)
        c.drawString(INNER + qr_size + 8, 150, "扫码核验")
        if en:
            c.setFont(self.font_name, 7)
            c.drawString(INNER + qr_size + 8, 140, "Scan to verify")
        # the identifier
        c.setFont(self.font_name, 7.5)
        c.drawString(INNER, MARGIN + 22, f"电子证照标识：{licence.identifier}")
        if en:
            c.setFont(self.font_name, 6.5)
            c.drawString(INNER, MARGIN + 13, "E-licence identifier (GB/T 36904)")

    def _draw_draft_mark(self, c: Canvas) -> None:
        """草稿 DRAFT across the page: a preview, signed by nobody."""
        c.saveState()
        c.setFillColorRGB(*RED)
        c.setFillAlpha(0.22)
        c.translate(PAGE_W / 2, PAGE_H / 2)
        c.rotate(40)
        c.setFont(self.font_name, 150)
        c.drawCentredString(0, 10, "草稿")
        c.setFont(self.font_name, 60)
        c.drawCentredString(0, -70, "DRAFT · 未签发")
        c.restoreState()

    def _draw_seal_mark(self, c: Canvas, static: _Static, cx: float, cy: float) -> None:
        radius = 56.0
        c.saveState()
        c.setStrokeColorRGB(*RED)
        c.setFillColorRGB(*RED)
        c.setLineWidth(2.6)
        c.circle(cx, cy, radius, stroke=1, fill=0)
        # a five-pointed star in the middle
        star = c.beginPath()
        for k in range(10):
            r = 17.0 if k % 2 == 0 else 6.8
            a = math.radians(90 + 36 * k)
            x, y = cx + r * math.cos(a), cy + r * math.sin(a)
            if k == 0:
                star.moveTo(x, y)
            else:
                star.lineTo(x, y)
        star.close()
        c.drawPath(star, stroke=0, fill=1)
        size = 12.0 if len(static.seal_ring) <= 12 else 10.0
        c.setFont(self.font_name, size)
        for ch, angle in static.seal_ring:
            c.saveState()
            c.translate(cx, cy)
            c.rotate(angle - 90)
            c.drawCentredString(0, radius - size - 5, ch)
            c.restoreState()
        c.setFont(self.font_name, 8)
        c.drawCentredString(cx, cy - 32, "电子证照专用章")
        c.restoreState()

    def _draw_qr(self, c: Canvas, qr: segno.QRCode, x: float, y: float, size: float) -> None:
        """The QR code as filled rectangles (vector, one path), one per run of dark modules."""
        matrix = qr.matrix
        n = len(matrix)
        m = size / n
        ops: list[str] = []
        for row_index, row in enumerate(matrix):
            top = y + size - (row_index + 1) * m
            col = 0
            while col < n:
                if row[col]:
                    start = col
                    while col < n and row[col]:
                        col += 1
                    ops.append(f"{x + start * m:.3f} {top:.3f} {(col - start) * m:.3f} {m:.3f} re")
                else:
                    col += 1
        c.saveState()
        c.setFillColorRGB(0, 0, 0)
        c.addLiteral("\n".join(ops) + "\nf")
        c.restoreState()
