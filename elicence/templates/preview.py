"""Templates: a PDF upload's first pages as one PNG image, for a clerk's case page (no viewer of
the browser's, no frame): rendered on the server by PDFium (pypdfium2), bounded.

Why on the server rather than a framed PDF: ADR 0017. The PDF is a citizen's file, so PDFium
never runs in the service's own process: each preview is drawn by a child process
(``python -m elicence.templates.preview``) that limits its own CPU time and address space before
it reads the file, and that the service kills after :data:`RENDER_SECONDS` of wall-clock time. A
PDF that loops, balloons or crashes PDFium costs one child, never a worker or its other
requests. At most :data:`MAX_RENDERS` children run at once per worker, and the last
:data:`CACHED` previews are kept by the file's SHA-256 (a clerk reopening a case draws nothing).

Invariants: at most :data:`MAX_PAGES` pages, each at most :data:`WIDTH` ×
:data:`MAX_PAGE_HEIGHT` pixels, whatever the page size says; a PDF PDFium cannot open (or that
asks for a password), a render over its limits and a child that dies are each an
:class:`~elicence.errors.InputError` naming the upload, never a 5xx.
"""

from __future__ import annotations

import hashlib
import io
import resource
import struct
import subprocess
import sys
import threading
from collections import OrderedDict

from elicence.errors import InputError

MAX_PAGES = 3
WIDTH = 900  # pixels of each page's width
MAX_PAGE_HEIGHT = 1800  # a page taller than twice its width is scaled down to this
GAP = 12  # pixels of grey between pages
RENDER_SECONDS = 10  # wall clock for one child, start-up included
RENDER_CPU_SECONDS = 8  # the child's own CPU limit (RLIMIT_CPU)
RENDER_MEMORY = 1 << 30  # the child's address space (RLIMIT_AS), bytes
MAX_RENDERS = 2  # children at once, per worker process
CACHED = 8  # previews kept, by the PDF's SHA-256
_RENDERS = threading.BoundedSemaphore(MAX_RENDERS)
_CACHE: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_BAD_PDF = 2  # the child's exit status for a PDF it could not draw (the reason on stderr)


def pdf_preview_png(data: bytes, *, field: str = "upload") -> tuple[bytes, int]:
    """The first pages of the PDF ``data`` stacked as one PNG, and the PDF's page count; drawn
    in a child process under limits (or taken from the cache of recent previews)."""
    key = hashlib.sha256(data).hexdigest()
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    with _RENDERS:
        try:
            done = subprocess.run(  # noqa: S603 (a fixed argv of our own module, no shell; the PDF on stdin)
                [
                    sys.executable,
                    "-m",
                    "elicence.templates.preview",
                    str(RENDER_CPU_SECONDS),
                    str(RENDER_MEMORY),
                ],
                input=data,
                capture_output=True,
                timeout=RENDER_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise InputError(
                f"the PDF cannot be shown: drawing it took over {RENDER_SECONDS} s", field=field
            ) from None
    if done.returncode == _BAD_PDF:
        reason = done.stderr.decode("utf-8", "replace").strip()[:200] or "it cannot be drawn"
        raise InputError(reason, field=field)
    if done.returncode != 0 or len(done.stdout) < 4:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"status {done.returncode}"
        raise InputError(
            f"the PDF cannot be shown: drawing it stopped ({how}: over its limits?)", field=field
        )
    (count,) = struct.unpack(">I", done.stdout[:4])
    found = (done.stdout[4:], count)
    with _CACHE_LOCK:
        _CACHE[key] = found
        while len(_CACHE) > CACHED:
            _CACHE.popitem(last=False)
    return found


def _draw(data: bytes) -> tuple[bytes, int]:
    """In the child: the preview of ``data``; :class:`InputError` for a PDF it cannot draw."""
    import pypdfium2 as pdfium
    from PIL import Image

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise InputError(f"the PDF cannot be shown: {e}"[:200]) from None
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
        raise InputError(f"the PDF cannot be shown: {e}"[:200]) from None
    finally:
        pdf.close()
    if not pages:
        raise InputError("the PDF has no page to show")
    height = sum(p.height for p in pages) + GAP * (len(pages) - 1)
    sheet = Image.new("RGB", (max(p.width for p in pages), height), (200, 200, 200))
    y = 0
    for p in pages:
        sheet.paste(p, (0, y))
        y += p.height + GAP
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=False)
    return out.getvalue(), count


def _child(cpu_seconds: int, memory: int) -> int:
    """``python -m elicence.templates.preview CPU_SECONDS MEMORY``: the limits first, then the
    PDF from stdin; the page count (4 bytes, big-endian) and the PNG on stdout, or exit 2 with
    the reason on stderr."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    data = sys.stdin.buffer.read()
    try:
        png, count = _draw(data)
    except InputError as e:
        sys.stderr.write(e.message)
        return _BAD_PDF
    sys.stdout.buffer.write(struct.pack(">I", count) + png)
    return 0


if __name__ == "__main__":
    sys.exit(_child(int(sys.argv[1]), int(sys.argv[2])))
