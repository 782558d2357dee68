"""Verification of signed licence PDFs: a good one, and every way one can be wrong.

The bad PDFs are made with independent tools where one exists (``qpdf`` re-saves a file) and with
pyHanko's writer for incremental updates.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from elicence.app.service import Elicence
from elicence.errors import InputError, PayloadTooLargeError
from elicence.keys import pki
from elicence.keys.signer import SoftwareSigner
from elicence.templates.pades import SEAL_INFO_KEY, PadesSigner
from elicence.verifier import UnsafeSkipStatusCheck, Verdict, VerificationReport
from elicence.verifier.pdf import MAX_PDF_BYTES, verify_pdf
from tests.conftest import GZ_AMR, NOW, SZ_AMR, food_permit
from tests.templates.pdftools import GZ_CLIENT, issue_pdf
from tests.tools import tool


def check(service: Elicence, pdf: bytes, *, offline: bool = False) -> VerificationReport:
    return verify_pdf(
        pdf,
        trust_list=service.trust_list(),
        status=UnsafeSkipStatusCheck if offline else service.registry,
        now=service.clock(),
    )


def failed(report: VerificationReport) -> set[str]:
    return {c.name for c in report.checks if not c.passed}


def unsigned(service: Elicence) -> tuple[str, bytes]:
    lic = service.issue(GZ_CLIENT, food_permit("UNSIGNED")).licence
    catalogue = service.catalogue()
    pdf = service.documents.renderer.render(
        lic,
        licence_type=catalogue.licence_type(lic.type_code),
        department=catalogue.department(GZ_AMR),
        public_base_url=service.public_base_url,
    )
    return lic.seal, pdf


def test_a_licence_pdf_verifies(service: Elicence) -> None:
    identifier, pdf = issue_pdf(service)
    report = check(service, pdf)
    assert report.verdict is Verdict.VALID, report.checks
    names = [c.name for c in report.checks]
    assert names[:7] == [
        "pdf_signature",
        "pdf_integrity",
        "pdf_coverage",
        "pdf_signer_chain",
        "pdf_signer_known",
        "pdf_seal",
        "pdf_signer_is_issuer",
    ]
    assert {"signature", "registry_record", "registry_status"} <= set(names)
    assert report.licence is not None and report.licence.identifier == identifier
    assert report.status_checked


def test_offline_without_status(service: Elicence) -> None:
    _, pdf = issue_pdf(service)
    report = check(service, pdf, offline=True)
    assert report.valid and not report.status_checked


def test_a_pdf_signed_by_a_key_outside_the_trust_list_is_untrusted(service: Elicence) -> None:
    seal, pdf = unsigned(service)
    other_root_key = pki.new_key()
    other_root = pki.make_root(other_root_key, name="another root", now=NOW - dt.timedelta(days=1))
    key = pki.new_key()
    cert = pki.make_end_entity(
        root_key=other_root_key,
        root=other_root,
        public_key=key.public_key(),
        common_name="广州市市场监督管理局",
        uscc=GZ_AMR,  # claims to be the department
        now=NOW - dt.timedelta(days=1),
        validity=pki.DEPARTMENT_VALIDITY,
        crl_url=None,
    )
    forged = PadesSigner(SoftwareSigner(key, cert), chain=[other_root]).sign(
        pdf, info={SEAL_INFO_KEY: seal}
    )
    report = check(service, forged)
    assert report.verdict is Verdict.UNTRUSTED, report.checks
    assert {"pdf_signer_chain", "pdf_signer_known"} <= failed(report)


def test_a_pdf_signed_by_another_trusted_department_is_untrusted(service: Elicence) -> None:
    seal, pdf = unsigned(service)
    other = service.signers()[SZ_AMR]
    signed = PadesSigner(other, chain=[service.keystore.root_certificate()]).sign(
        pdf, info={SEAL_INFO_KEY: seal}
    )
    report = check(service, signed)
    assert report.verdict is Verdict.UNTRUSTED
    assert failed(report) == {"pdf_signer_is_issuer"}


def test_an_unsigned_pdf_is_invalid(service: Elicence) -> None:
    _, pdf = unsigned(service)
    report = check(service, pdf)
    assert report.verdict is Verdict.INVALID
    assert failed(report) == {"pdf_signature"}


def test_a_pdf_resaved_by_qpdf_is_invalid(service: Elicence, tmp_path: Path) -> None:
    qpdf = tool("qpdf")
    _, pdf = issue_pdf(service)
    src, dst = tmp_path / "in.pdf", tmp_path / "out.pdf"
    src.write_bytes(pdf)
    subprocess.run([qpdf, "--object-streams=generate", str(src), str(dst)], check=True, timeout=60)
    report = check(service, dst.read_bytes())
    assert report.verdict is Verdict.INVALID, report.checks


def test_an_edited_byte_in_the_signed_range_is_invalid(service: Elicence) -> None:
    _, pdf = issue_pdf(service)
    at = pdf.index(b"/Author") + 8
    edited = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]
    report = check(service, edited)
    assert report.verdict is Verdict.INVALID
    assert "pdf_integrity" in failed(report)


def _incremental(pdf: bytes, key: str, value: str) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    info = writer.trailer["/Info"]
    info[generic.NameObject(key)] = generic.TextStringObject(value)
    writer.update_container(info)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_extra_incremental_update_is_invalid(service: Elicence) -> None:
    _, pdf = issue_pdf(service)
    report = check(service, _incremental(pdf, "/Title", "营业执照（伪）"))
    assert report.verdict is Verdict.INVALID
    assert failed(report) == {"pdf_coverage"}


def test_an_update_swapping_in_another_licences_seal_is_invalid(service: Elicence) -> None:
    _, pdf = issue_pdf(service)
    other = service.issue(GZ_CLIENT, food_permit("OTHER-1")).licence
    swapped = _incremental(_incremental(pdf, SEAL_INFO_KEY, other.seal), "/Keywords", other.seal)
    report = check(service, swapped)
    assert report.verdict is Verdict.INVALID
    assert "pdf_coverage" in failed(report)


def test_a_seal_the_registry_does_not_hold_is_not_found(service: Elicence) -> None:
    from elicence.verifier.seal import RegistryRecord

    _, pdf = issue_pdf(service)

    class Empty:
        def lookup(self, identifier: str) -> RegistryRecord | None:
            return None

    report = verify_pdf(pdf, trust_list=service.trust_list(), status=Empty(), now=service.clock())
    assert report.verdict is Verdict.NOT_FOUND


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, not a pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 100],
    ids=["empty", "text", "png"],
)
def test_a_non_pdf_is_refused_as_input(service: Elicence, data: bytes) -> None:
    with pytest.raises(InputError) as e:
        check(service, data)
    assert e.value.field == "file"


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95], ids=["30%", "60%", "95%"])
def test_a_truncated_pdf_is_refused(service: Elicence, keep: float) -> None:
    _, pdf = issue_pdf(service)
    try:
        report = check(service, pdf[: int(len(pdf) * keep)])
    except InputError as e:
        assert e.field == "file"
    else:
        assert report.verdict is Verdict.INVALID


def test_a_pdf_past_the_size_limit_is_refused(service: Elicence) -> None:
    with pytest.raises(PayloadTooLargeError):
        check(service, b"%PDF-1.7\n" + b"0" * MAX_PDF_BYTES)
