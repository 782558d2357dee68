"""PAdES signatures on licence PDFs (pyHanko), made by a department's :class:`Signer`.

Levels: B-B by default; B-T when a time-stamping authority is given (RFC 3161); B-LT when a
current CRL of the root is given: the chain and the CRL go into the document security store (DSS)
of the signed revision itself, so the signature still covers the whole file.

Invariants: the key never leaves its :class:`Signer` (the CMS signature is asked of
``Signer.sign_der``, so an HSM signer works the same); the signature carries the chain
(department certificate and root); the space for the signature is reserved up front
(``bytes_reserved``), so each PDF is signed once, with no dry run.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Mapping, Sequence

from asn1crypto import algos
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields
from pyhanko.sign import signers as hanko_signers
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from elicence.errors import DocumentError, KeyCustodyError
from elicence.keys.signer import Signer

SEAL_INFO_KEY = "/ELSeal"  # the licence's seal text in the document information dictionary
FIELD_NAME = "ElicenceSignature"
BYTES_RESERVED = 8192  # CMS with two P-256 certificates and the CAdES attributes: about 1.6 KB
BYTES_RESERVED_TIMESTAMP = 16384  # a time-stamp token adds its TSA's certificates


class _OfflineByDesign(logging.Filter):
    """Drop pyHanko's notice that fetching is off: we embed the CRL we were given, on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "fetching is not allowed" not in record.getMessage()


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_OfflineByDesign())


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


class _CmsSigner(hanko_signers.Signer):
    """pyHanko's signer interface over an elicence :class:`Signer` (ECDSA P-256, SHA-256)."""

    def __init__(self, signer: Signer, chain: Sequence[x509.Certificate]) -> None:
        self._elicence_signer = signer
        certs = [to_asn1(signer.certificate), *(to_asn1(c) for c in chain)]
        super().__init__(
            signing_cert=certs[0],
            cert_registry=SimpleCertificateStore.from_certs(certs),  # type: ignore[no-untyped-call]
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            embed_roots=True,
        )

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm != "sha256":
            raise DocumentError(f"licence PDFs are signed with SHA-256, not {digest_algorithm}")
        return self._elicence_signer.sign_der(data)


class PadesSigner:
    """Signs PDFs as one department; built once per key and reused (it holds no per-PDF state)."""

    def __init__(
        self,
        signer: Signer,
        *,
        chain: Sequence[x509.Certificate],
        timestamper: TimeStamper | None = None,
        signer_name: str | None = None,
    ) -> None:
        self.signer = signer
        self.kid = signer.kid
        self._root = chain[-1] if chain else None
        self._cms = _CmsSigner(signer, chain)
        self._timestamper = timestamper
        self._name = signer_name
        self._plain = hanko_signers.PdfSigner(
            self._metadata(), signer=self._cms, timestamper=timestamper
        )

    def _metadata(
        self, validation_context: ValidationContext | None = None
    ) -> hanko_signers.PdfSignatureMetadata:
        return hanko_signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            name=self._name,
            reason="电子证照签发 (e-licence issuance)",
            embed_validation_info=validation_context is not None,
            validation_context=validation_context,
            signer_key_usage={"non_repudiation"},
            dss_settings=DSSContentSettings(
                placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False
            ),
        )

    @property
    def level(self) -> str:
        return "B-T" if self._timestamper is not None else "B-B"

    def sign(
        self,
        pdf: bytes,
        *,
        info: Mapping[str, str] | None = None,
        crl: bytes | None = None,
        now: dt.datetime | None = None,
    ) -> bytes:
        """Sign ``pdf``; ``info`` entries go into its /Info; ``crl`` (DER) makes it B-LT."""
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
            if info:
                info_dict = writer.trailer["/Info"]
                for key, value in info.items():
                    info_dict[generic.NameObject(key)] = generic.TextStringObject(value)
                writer.update_container(info_dict)
            pdf_signer = self._plain
            if crl is not None and self._root is not None:
                context = ValidationContext(
                    trust_roots=[to_asn1(self._root)],
                    crls=[asn1_crl.CertificateList.load(crl)],
                    allow_fetching=False,
                    revocation_mode="hard-fail",
                    moment=now,
                )
                pdf_signer = hanko_signers.PdfSigner(
                    self._metadata(context), signer=self._cms, timestamper=self._timestamper
                )
            out = io.BytesIO()
            pdf_signer.sign_pdf(
                writer,
                bytes_reserved=BYTES_RESERVED_TIMESTAMP
                if self._timestamper is not None
                else BYTES_RESERVED,
                output=out,
            )
        except (DocumentError, KeyCustodyError):  # a token gone: signer_unavailable, as issuance
            raise
        except Exception as e:  # pyHanko's SigningError, TimestampRequestError, PdfError …
            raise DocumentError(f"the licence PDF could not be signed: {e}") from e
        return out.getvalue()


def http_timestamper(url: str, *, timeout: float = 5.0) -> TimeStamper:
    """An RFC 3161 time-stamping client for ``url``."""
    return HTTPTimeStamper(url, timeout=timeout)
