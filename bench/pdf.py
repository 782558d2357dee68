"""Signed licence PDFs (B-B) beside pyHanko signing a tiny fixed PDF with the same key."""

from __future__ import annotations

import datetime as dt
import io
import statistics

from bench.common import GZ_AMR, report, timed
from elicence.app.service import Elicence
from elicence.domain.licence import Licence


def stage_pdf(svc: Elicence, lic: Licence, n: int) -> None:
    """Signed licence PDFs (B-B) beside pyHanko signing a tiny fixed PDF with the same key."""
    from asn1crypto import keys as asn1_keys
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore
    from reportlab.pdfgen.canvas import Canvas

    from elicence.keys.signer import SoftwareSigner
    from elicence.templates.pades import BYTES_RESERVED, to_asn1

    print("licence PDFs (one core):")
    catalogue = svc.catalogue()
    signer = svc.keys.signers()[GZ_AMR]
    root = svc.keystore.root_certificate()
    licence_type = catalogue.licence_type(lic.type_code)
    department = catalogue.department(GZ_AMR)
    now = dt.datetime.now(dt.UTC)

    def make(_i: int = 0) -> bytes:
        return svc.documents.make(
            lic,
            licence_type=licence_type,
            department=department,
            signer=signer,
            root=root,
            public_base_url=svc.public_base_url,
            crl=None,
            now=now,
        )

    make()  # warm-up: the font loaded, the PAdES signer built
    el, lat = timed(n, make)
    report("PDF: render + QR + PAdES B-B (PDFs)", n, el, lat, "target p50 <= 30 ms")
    el, lat_render = timed(
        n,
        lambda _i: svc.documents.renderer.render(
            lic,
            licence_type=licence_type,
            department=department,
            public_base_url=svc.public_base_url,
        ),
    )
    report("  of which render + QR (unsigned)", n, el, lat_render)

    buf = io.BytesIO()
    c = Canvas(buf)
    c.drawString(72, 720, "elicence benchmark: a tiny fixed PDF")
    c.showPage()
    c.save()
    tiny = buf.getvalue()
    assert isinstance(signer, SoftwareSigner)  # the bench's keys are key files
    pkcs8 = signer.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    simple = signers.SimpleSigner(
        signing_cert=to_asn1(signer.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(pkcs8),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [to_asn1(signer.certificate), to_asn1(root)]
        ),
    )
    plain = signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name="Sig", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
        ),
        signer=simple,
    )

    def sign_tiny(_i: int) -> bytes:
        out = io.BytesIO()
        plain.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(tiny)), bytes_reserved=BYTES_RESERVED, output=out
        )
        return out.getvalue()

    sign_tiny(0)
    el, lat_tiny = timed(n, sign_tiny)
    report("pyHanko alone: tiny fixed PDF, B-B", n, el, lat_tiny, "same key, same run")
    print(
        f"    -> a licence PDF costs {statistics.median(lat) / statistics.median(lat_tiny):.2f}x "
        "pyHanko's own signing of a tiny PDF"
    )
