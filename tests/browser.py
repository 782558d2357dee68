"""The browser tests' toolkit: uvicorn in a thread on a free loopback port, headless Chromium
through Playwright (the ``chromium`` fixture, one per module; missing pieces fail on CI and skip
elsewhere), a page that records console errors, axe-core (vendored in ``tests/vendor/axe-core``)
and screenshots into ``artifacts/`` at the sizes of the three channels."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.tools import unavailable

CHROMIUM = os.environ.get("ELICENCE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # the desk's camera: a fake device, granted without a prompt
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TERMINAL = {"width": 1080, "height": 1920}  # a hall's self-service terminal, portrait
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # 4.14.1
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def free_socket() -> tuple[socket.socket, str]:
    """A bound loopback socket and its base URL (known before the app is built, so that the
    service can be given it as its public base URL)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serving(app: Any, sock: socket.socket) -> Iterator[None]:
    """Serve ``app`` on ``sock`` until the block ends; the socket is closed afterwards."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium (Playwright's ``Browser``), launched once per test module: while
    Playwright's sync API is open an event loop runs in this thread, so it must not outlive the
    browser tests (``asyncio.run`` elsewhere, as in pyHanko's signing, would refuse to start)."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as e:
            unavailable(f"Chromium does not start: {e}")
        yield b
        b.close()


def new_page(chromium: Any, viewport: dict[str, int] = PHONE, **context: Any) -> Any:
    """A page in a context of its own; ``page.problems`` collects page errors and console
    errors and warnings, which a test asserts empty."""
    ctx = chromium.new_context(viewport=viewport, device_scale_factor=2, **context)
    pg = ctx.new_page()
    pg.problems = []
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on(
        "console",
        lambda m: (
            pg.problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    return pg


def axe(page: Any) -> None:
    """axe-core over the page: no serious or critical violation of WCAG 2.1 A/AA."""
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, "vendor/axe-core/axe.min.js changed"
    page.evaluate(source.decode("utf-8"))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG
    )
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], bad
    assert result["passes"], "axe checked nothing"


def fits(page: Any) -> None:
    """The page does not scroll sideways at its viewport's width."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    if width > viewport:
        culprits = page.evaluate(
            "w => Array.from(document.querySelectorAll('body *'))"
            ".filter(e => e.getBoundingClientRect().right > w)"
            ".map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"
            ".slice(0, 8)",
            viewport,
        )
        pytest.fail(f"the page scrolls sideways: {width}px > {viewport}px: {culprits}")


def shoot(
    page: Any, name: str, *, prefix: str, sizes: Sequence[dict[str, int]] = (PHONE, DESKTOP)
) -> None:
    """Screenshots of the page resized to each of ``sizes``, each fitting the width; the page
    is left at phone size."""
    ARTIFACTS.mkdir(exist_ok=True)
    for size in sizes:
        page.set_viewport_size(size)
        fits(page)
        path = ARTIFACTS / f"{prefix}-{name}-{size['width']}x{size['height']}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5_000
    page.set_viewport_size(PHONE)
