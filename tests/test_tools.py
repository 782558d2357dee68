"""The external programs the tests drive fail the test on CI and skip it elsewhere when missing
(tests/tools.py): run a test that needs them under a PATH that holds none of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools import pytest_without_tools

NEEDS = [
    "tests/templates/test_pdf.py::test_pdfsig_reports_the_signature_valid_and_the_certificate_trusted",
    "tests/verifier/test_pdf.py::test_a_pdf_resaved_by_qpdf_is_invalid",
]


@pytest.mark.slow
@pytest.mark.parametrize("ci", ["true", ""], ids=["ci-fails", "elsewhere-skips"])
def test_a_missing_pdf_tool_fails_on_ci_and_skips_elsewhere(tmp_path: Path, ci: str) -> None:
    result = pytest_without_tools(NEEDS, path=tmp_path, ci=ci)  # no pdfsig, qpdf … here
    out = result.stdout + result.stderr
    if ci:
        assert result.returncode != 0, out
        assert "1 failed" in out and "1 error" in out, out  # a fixture errors, a call fails
        assert "required on CI: pdfsig is not installed" in out, out
        assert "required on CI: qpdf is not installed" in out, out
    else:
        assert result.returncode == 0 and "2 skipped" in out, out
