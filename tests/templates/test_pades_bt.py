"""PAdES B-T: with a time-stamping authority configured, pyHanko's HTTPTimeStamper asks it over
RFC 3161 HTTP. The TSA here is a real HTTP server in a thread, answering with pyHanko's test TSA.
"""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from elicence.app.service import Elicence
from elicence.templates.documents import LicenceDocuments
from elicence.templates.pades import to_asn1
from elicence.verifier.pdf import has_signature_timestamp, verify_pdf
from tests.conftest import NOW
from tests.pki import time_stamping_authority
from tests.templates.pdftools import issue_pdf, needs_tools, nss_db, pdfsig


def _tsa() -> DummyTimeStamper:
    key, cert = time_stamping_authority(NOW)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DummyTimeStamper(to_asn1(cert), asn1_keys.PrivateKeyInfo.load(pkcs8))


@pytest.fixture
def tsa_url() -> Iterator[str]:
    stamper = _tsa()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    server.shutdown()
    server.server_close()


@needs_tools
def test_with_a_tsa_the_signature_carries_a_timestamp(
    service: Elicence, tsa_url: str, tmp_path: Path
) -> None:
    service.documents = LicenceDocuments(tsa_url=tsa_url)
    assert service.documents.level == "B-T"
    _, pdf = issue_pdf(service)
    sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    assert has_signature_timestamp(sig)
    report = verify_pdf(
        pdf, trust_list=service.keys.trust_list(), status=service.registry, now=service.clock()
    )
    assert report.valid, report.checks
    assert "(B-T)" in report.checks[0].detail
    path = tmp_path / "bt.pdf"
    path.write_bytes(pdf)
    out = pdfsig(path, nss_db(tmp_path / "nss", service))
    assert "Signature is Valid." in out and "Certificate is Trusted." in out, out


def test_an_unreachable_tsa_is_a_service_error(service: Elicence) -> None:
    from elicence.errors import DocumentError

    service.documents = LicenceDocuments(tsa_url="http://127.0.0.1:9/tsa")
    with pytest.raises(DocumentError, match="could not be signed"):
        issue_pdf(service)
