"""``elicence pdf IDENTIFIER --out FILE`` and ``elicence verify FILE.pdf``, online and offline."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import cli
from tests.conftest import GZ_AMR, food_permit
from tests.test_cli import write_json


def test_write_and_verify_a_licence_pdf(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, "init").exit_code == 0
    request = write_json(tmp_path / "req.json", food_permit("CLI-PDF-1"))
    result = cli(data, "issue", request, "--department", GZ_AMR)
    assert result.exit_code == 0, result.stderr
    identifier = json.loads(result.stdout)["identifier"]

    out = tmp_path / "licence.pdf"
    result = cli(data, "pdf", identifier, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"%PDF-")

    result = cli(data, "verify", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "verdict: valid" in result.stdout and "pdf_signature" in result.stdout

    trust_list = tmp_path / "tl.cose"
    assert cli(data, "keys", "export-trust-list", trust_list).exit_code == 0
    root = trust_list.with_suffix(".root.pem")
    result = cli(data, "verify", out, "--trust-list", trust_list, "--root", root, "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["verdict"] == "valid"

    pdf = out.read_bytes()
    at = pdf.index(b"/Author") + 8
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :])
    result = cli(data, "verify", bad)
    assert result.exit_code == 1 and "verdict: invalid" in result.stdout

    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"not a pdf")
    result = cli(data, "verify", junk)
    assert result.exit_code == 2 and "not a PDF" in result.stderr
    assert cli(data, "verify", tmp_path / "missing.pdf").exit_code == 2
