"""Helpers for the PDF tests: issue and fetch a licence PDF, and drive the independent tools
(poppler's ``pdfsig``, ``pdftotext`` and ``pdftoppm``, ``qpdf``, ``zbarimg``, NSS ``certutil``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from tests.conftest import GZ_AMR, food_permit

TOOLS = ("pdfsig", "pdftotext", "pdftoppm", "qpdf", "zbarimg", "certutil")

# the tests that run them: every tool of TOOLS installed (tests/conftest.py's pdf_tools fixture)
needs_tools = pytest.mark.usefixtures("pdf_tools")
GZ_CLIENT = Client("gz", "广州市市场监督管理局", Role.DEPARTMENT, GZ_AMR)
ADMIN = Client("admin", "operator", Role.ADMIN, None)


def issue_pdf(
    service: Elicence, body: dict[str, object] | None = None, *, department: str = GZ_AMR
) -> tuple[str, bytes]:
    """Issue a food permit (or ``body``) as ``department``; return (identifier, signed PDF)."""
    dept = Client("d", "dept", Role.DEPARTMENT, department)
    lic = service.issue(dept, body or food_permit()).licence
    return lic.identifier, service.licence_pdf(ADMIN, lic.identifier)


def business_licence(source_ref: str = "GZ-YYZZ-0001", **over: object) -> dict[str, object]:
    """A realistic issuance request for a business licence (营业执照)."""
    body: dict[str, object] = {
        "source_ref": source_ref,
        "type_code": "11100000000013338W001",
        "licence_number": "91350100M000100Y43",
        "holder": {
            "name": "广州市天河区某某科技发展有限公司",
            "id_type": "001",
            "id_number": "91350100M000100Y43",
        },
        "valid_from": "2026-11-28",
        "data": {
            "company_type": "有限责任公司（自然人投资或控股）",
            "legal_representative": "王喆",
            "registered_capital": "人民币壹佰万元",
            "established_on": "2020-05-06",
            "address": "广州市天河区天河北路233号中信广场5801房",
            "business_scope": "软件开发；信息技术咨询服务",
        },
    }
    body.update(over)
    return body


def run(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=check, timeout=60
    )


def nss_db(directory: Path, service: Elicence) -> str:
    """An NSS database that trusts only the service's root CA; returns ``sql:DIR``."""
    directory.mkdir(parents=True, exist_ok=True)
    root = directory / "root.pem"
    root.write_bytes(service.keystore.root_certificate().public_bytes(serialization.Encoding.PEM))
    run("certutil", "-N", "-d", f"sql:{directory}", "--empty-password")
    run("certutil", "-A", "-d", f"sql:{directory}", "-n", "root", "-t", "CT,C,C", "-i", root)
    return f"sql:{directory}"


def pdfsig(path: Path, nssdir: str) -> str:
    result = run("pdfsig", "-nssdir", nssdir, path, check=False)
    return result.stdout + result.stderr


def text_of(path: Path) -> str:
    return run("pdftotext", "-layout", path, "-").stdout


def qr_texts(path: Path, tmp: Path) -> list[str]:
    """Every QR code zbarimg finds on the PDF's pages rasterised at 200 dpi."""
    prefix = tmp / "page"
    run("pdftoppm", "-r", "200", "-png", path, prefix)
    found: list[str] = []
    for png in sorted(tmp.glob("page*.png")):
        result = run("zbarimg", "-q", "--raw", png, check=False)
        found += [line for line in result.stdout.splitlines() if line.strip()]
    return found
