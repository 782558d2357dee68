"""What the tests need from outside Python, found or refused in one way: with ``CI`` set a
missing piece (PostgreSQL, Redis, Chromium, SoftHSM, poppler, qpdf, zbar, NSS) fails the test,
so CI cannot pass by skipping; on a developer's machine it skips, naming what to install."""

from __future__ import annotations

import os
import shutil
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
