"""The external programs the tests drive fail the test on CI and skip it elsewhere when missing
(tests/tools.py): run a test that needs them under a PATH that holds none of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
NEEDS = [
    "tests/templates/test_pdf.py::test_pdfsig_reports_the_signature_valid_and_the_certificate_trusted",
    "tests/verifier/test_pdf.py::test_a_pdf_resaved_by_qpdf_is_invalid",
]


@pytest.mark.slow
@pytest.mark.parametrize("ci", ["true", ""], ids=["ci-fails", "elsewhere-skips"])
def test_a_missing_pdf_tool_fails_on_ci_and_skips_elsewhere(tmp_path: Path, ci: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path)  # no pdfsig, qpdf, zbarimg or certutil here
    if ci:
        env["CI"] = ci
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *NEEDS,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    if ci:
        assert result.returncode != 0, out
        assert "1 failed" in out and "1 error" in out, out  # a fixture errors, a call fails
        assert "required on CI: pdfsig is not installed" in out, out
        assert "required on CI: qpdf is not installed" in out, out
    else:
        assert result.returncode == 0 and "2 skipped" in out, out
