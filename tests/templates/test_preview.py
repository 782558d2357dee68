"""A PDF upload's preview is drawn by a child process under limits (templates/preview.py): a PDF
that takes too long, or a child that dies over its memory limit, is the upload's 422 error and
leaves the service's own process untouched; a preview drawn once is not drawn again."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import pytest

from elicence.errors import InputError
from elicence.templates import preview


def _pdf(pages: int, *, marks: int = 1) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    for n in range(pages):
        for i in range(marks):
            c.rect(100 + i % 300, 400 + n, 3, 2, fill=1)
        c.showPage()
    c.save()
    return out.getvalue()


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    preview._CACHE.clear()


def test_a_preview_is_drawn_in_a_child_and_kept_by_the_files_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    children: list[Any] = []
    run = subprocess.run

    def counted(*args: Any, **kwargs: Any) -> Any:
        done = run(*args, **kwargs)
        children.append(done)
        return done

    monkeypatch.setattr(preview.subprocess, "run", counted)
    data = _pdf(4)
    png, pages = preview.pdf_preview_png(data, field="uploads.layout")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and pages == 4
    assert len(children) == 1 and children[0].args[1:3] == ["-m", "elicence.templates.preview"]
    assert children[0].returncode == 0
    assert preview.pdf_preview_png(data) == (png, pages)
    assert len(children) == 1  # the second look is the cache's
    assert "pypdfium2" not in sys.modules  # PDFium never ran in this process


def test_a_pdf_that_takes_too_long_is_the_uploads_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview, "RENDER_SECONDS", 0.05)  # less than the child's start-up
    with pytest.raises(InputError) as e:
        preview.pdf_preview_png(_pdf(1), field="uploads.layout")
    assert e.value.field == "uploads.layout" and "took over" in e.value.message
    assert not preview._CACHE  # nothing kept of a failed drawing


def test_a_child_killed_over_its_memory_limit_is_the_uploads_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(preview, "RENDER_MEMORY", 48 << 20)  # too little to load PDFium
    with pytest.raises(InputError) as e:
        preview.pdf_preview_png(_pdf(1), field="uploads.layout")
    assert e.value.field == "uploads.layout"
    assert "stopped" in e.value.message or "cannot be shown" in e.value.message, e.value.message


def test_a_pdf_pdfium_cannot_open_names_the_reason_and_the_field() -> None:
    with pytest.raises(InputError) as e:
        preview.pdf_preview_png(b"%PDF-1.7\nnot really", field="uploads.layout")
    assert e.value.field == "uploads.layout"
    assert e.value.message.startswith("the PDF cannot be shown")
