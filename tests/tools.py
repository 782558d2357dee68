"""What the tests need from outside Python, found or refused in one way: with ``CI`` set a
missing piece (PostgreSQL, Redis, Chromium, SoftHSM, poppler, qpdf, zbar, NSS, OpenSSL) fails the test,
so CI cannot pass by skipping; on a developer's machine it skips, naming what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

import pytest

# the Debian package of each external program the tests run (all installed by scripts/setup --dev)
PACKAGES = {
    "pdfsig": "poppler-utils",
    "pdftotext": "poppler-utils",
    "pdftoppm": "poppler-utils",
    "qpdf": "qpdf",
    "zbarimg": "zbar-tools",
    "certutil": "libnss3-tools",
    "openssl": "openssl",
}


def unavailable(why: str) -> NoReturn:
    """Fail on CI, skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"required on CI: {why}")
    pytest.skip(why)


def tool(name: str) -> str:
    """The path of an external program, or :func:`unavailable`."""
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed (Debian {PACKAGES[name]}; scripts/setup --dev)")
    return found


def pytest_without_tools(
    tests: Iterable[str], *, path: Path, ci: str, unset: Iterable[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``tests`` in a child pytest whose ``PATH`` is only ``path`` (so no external program
    is found), with ``CI`` set to ``ci`` ("" unsets it) and the variables ``unset`` removed:
    how the rule above is shown to fail on CI and to skip elsewhere."""
    dropped = {"CI", *unset}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PATH"] = str(path)
    if ci:
        env["CI"] = ci
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    return subprocess.run(
        [*argv, *tests],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[1],
        timeout=300,
        check=False,
    )
