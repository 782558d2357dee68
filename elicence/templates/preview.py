"""Templates: a PDF upload's first pages as one PNG image, for a clerk's case page (no viewer of
the browser's, no frame): rendered on the server by PDFium (pypdfium2), bounded.

Why on the server rather than a framed PDF: ADR 0017. PDFium is not thread-safe, so one lock
serialises every use of it in the process. Invariants: at most :data:`MAX_PAGES` pages, each
at most :data:`WIDTH` × :data:`MAX_PAGE_HEIGHT` pixels, whatever the page size says; a PDF
PDFium cannot open (or that asks for a password) is a :class:`~elicence.errors.InputError`
naming the upload, never a 5xx.
"""

from __future__ import annotations

import io
import threading

import pypdfium2 as pdfium
from PIL import Image

from elicence.errors import InputError

MAX_PAGES = 3
WIDTH = 900  # pixels of each page's width
MAX_PAGE_HEIGHT = 1800  # a page taller than twice its width is scaled down to this
GAP = 12  # pixels of grey between pages
_PDFIUM = threading.Lock()  # PDFium must not be called from two threads at once


def pdf_preview_png(data: bytes, *, field: str = "upload") -> tuple[bytes, int]:
    """The first pages of the PDF ``data`` stacked as one PNG, and the PDF's page count."""
    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as e:
            raise InputError(f"the PDF cannot be shown: {e}"[:200], field=field) from None
        try:
            count = len(pdf)
            pages = []
            for i in range(min(count, MAX_PAGES)):
                page = pdf[i]
                try:
                    w_pt, h_pt = page.get_size()
                    if w_pt <= 0 or h_pt <= 0:
                        continue
                    scale = min(WIDTH / w_pt, MAX_PAGE_HEIGHT / h_pt)
                    bitmap = page.render(scale=scale)
                    try:
                        pages.append(bitmap.to_pil().convert("RGB"))
                    finally:
                        bitmap.close()
                finally:
                    page.close()
        except pdfium.PdfiumError as e:
            raise InputError(f"the PDF cannot be shown: {e}"[:200], field=field) from None
        finally:
            pdf.close()
    if not pages:
        raise InputError("the PDF has no page to show", field=field)
    height = sum(p.height for p in pages) + GAP * (len(pages) - 1)
    sheet = Image.new("RGB", (max(p.width for p in pages), height), (200, 200, 200))
    y = 0
    for p in pages:
        sheet.paste(p, (0, y))
        y += p.height + GAP
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=False)
    return out.getvalue(), count
