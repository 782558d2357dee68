"""Verifier: verify a signed licence PDF: its PAdES signature, its signer, and the EL1 seal it
carries.

Works with no database, like :func:`~elicence.verifier.seal.verify_seal`: give it a trust list and
a :class:`StatusSource` (or :data:`UnsafeSkipStatusCheck`).

Steps (the numbers recur in the code):
1. the bytes are a PDF that can be read (otherwise :class:`InputError`: not a verdict);
2. it carries exactly one signature field, a PAdES (ETSI.CAdES.detached) signature;
3. the signature is intact: the digest of the bytes it covers matches and the CMS signature
   verifies under the signer's certificate;
4. it covers the whole file: no change after signing, no extra incremental update;
5. the signer's certificate chains to the trust list's root (no fetching);
6. the signer is a department key in the trust list, not withdrawn when it signed;
7. the document information carries an EL1 seal (/ELSeal, the same as /Keywords) that decodes;
8. the signer's department is the seal's issuer (the department that issued the licence);
9. the seal itself verifies (verify_seal's checks, the registry's record and status included).

One combiner judges the PDF's checks and the seal's together
(:meth:`VerificationReport.from_findings`).

Every check fails closed: the verdict is ``valid`` only when every one of these ran and passed.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from elicence.errors import InputError, PayloadTooLargeError, SealError
from elicence.formats.seal import decode_seal_text, seal_text_from
from elicence.formats.trustlist import TrustList
from elicence.keys.signer import kid_of
from elicence.verifier.report import Check, CheckName, Findings, Verdict, VerificationReport
from elicence.verifier.seal import StatusSource, _UnsafeSkipStatusCheck, seal_findings
from elicence.verifier.status import OfflineStatus

MAX_PDF_BYTES = 5 * 1024 * 1024
SEAL_INFO_KEY = "/ELSeal"
PADES_SUBFILTER = "/ETSI.CAdES.detached"

_PDF_CHECKS = frozenset(
    {
        CheckName.PDF_SIGNATURE,
        CheckName.PDF_INTEGRITY,
        CheckName.PDF_COVERAGE,
        CheckName.PDF_SIGNER_CHAIN,
        CheckName.PDF_SIGNER_KNOWN,
        CheckName.PDF_SEAL,
        CheckName.PDF_SIGNER_IS_ISSUER,
    }
)


def _read(data: bytes) -> PdfFileReader:
    if len(data) > MAX_PDF_BYTES:
        raise PayloadTooLargeError(
            f"is {len(data):,} bytes; at most {MAX_PDF_BYTES:,} are accepted", field="file"
        )
    if b"%PDF-" not in data[:1024]:
        raise InputError("is not a PDF file", field="file", code="not_pdf")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        reader.root  # noqa: B018 - resolve the catalogue now: a damaged file fails here
    except Exception as e:  # pyHanko raises PdfReadError, PdfStrictReadError, ValueError …
        raise InputError(
            f"is not a readable PDF (truncated or damaged): {e}", field="file", code="bad_pdf"
        ) from e
    return reader


def _info_text(reader: PdfFileReader, key: str) -> str | None:
    try:
        info = reader.trailer_view["/Info"]
        value = info.get(key)
    except Exception:  # no /Info, or a malformed one
        return None
    return str(value) if value is not None else None


def verify_pdf(
    data: bytes,
    *,
    trust_list: TrustList,
    status: StatusSource | OfflineStatus | _UnsafeSkipStatusCheck,
    now: dt.datetime,
) -> VerificationReport:
    """Verify a signed licence PDF. Raises :class:`InputError` if ``data`` is no readable PDF."""
    # 1.
    reader = _read(data)
    found = Findings(_PDF_CHECKS)
    checks = found.checks

    def done() -> VerificationReport:
        return VerificationReport.from_findings(found, checked_at=now)

    # 2.
    try:
        signatures = list(reader.embedded_signatures)
    except Exception as e:
        checks.append(
            Check(CheckName.PDF_SIGNATURE, False, f"the signature fields are malformed: {e}")
        )
        return done()
    if len(signatures) != 1:
        checks.append(
            Check(
                CheckName.PDF_SIGNATURE, False, f"expected one signature, found {len(signatures)}"
            )
        )
        return done()
    sig = signatures[0]
    subfilter = str(sig.sig_object.get("/SubFilter", ""))
    if subfilter != PADES_SUBFILTER:
        checks.append(
            Check(CheckName.PDF_SIGNATURE, False, f"signature subfilter {subfilter} is not PAdES")
        )
        return done()
    # 3. and 5. (pyHanko: digest, CMS signature, and the chain to the pinned root)
    context = ValidationContext(
        trust_roots=[_asn1(trust_list.root)],
        allow_fetching=False,
        revocation_mode="soft-fail",  # key status comes from the signed trust list (step 6)
        moment=now,
    )
    try:
        result = validate_pdf_signature(sig, signer_validation_context=context, skip_diff=True)
    except Exception as e:  # a malformed CMS or byte range: pyHanko cannot even evaluate it
        checks.append(
            Check(CheckName.PDF_SIGNATURE, True, f"a PAdES signature ({_level(reader, sig)})")
        )
        checks.append(
            Check(CheckName.PDF_INTEGRITY, False, f"the signature cannot be evaluated: {e}")
        )
        return done()
    checks.append(
        Check(CheckName.PDF_SIGNATURE, True, f"a PAdES signature ({_level(reader, sig)})")
    )
    intact = bool(result.intact and result.valid)
    checks.append(
        Check(
            CheckName.PDF_INTEGRITY,
            intact,
            "the signed bytes are unchanged and the signature verifies"
            if intact
            else "the signed bytes were changed or the signature does not verify",
        )
    )
    # 4.
    whole = result.coverage is SignatureCoverageLevel.ENTIRE_FILE
    checks.append(
        Check(
            CheckName.PDF_COVERAGE,
            whole,
            "the signature covers the whole file"
            if whole
            else "the file was changed or extended after it was signed "
            f"(coverage {result.coverage.name if result.coverage else 'unknown'})",
        )
    )
    # 5.
    trusted = bool(result.trusted)
    checks.append(
        Check(
            CheckName.PDF_SIGNER_CHAIN,
            trusted,
            "the signer's certificate chains to the root"
            if trusted
            else "the signer's certificate does not chain to the root"
            + (f" ({result.trust_problem_indic})" if result.trust_problem_indic else ""),
            Verdict.UNTRUSTED,
        )
    )
    # 6.
    cert = x509.load_der_x509_certificate(result.signing_cert.dump())
    entry = trust_list.entry(kid_of(cert))
    signed_at = _signing_time(result)
    if entry is None:
        checks.append(
            Check(
                CheckName.PDF_SIGNER_KNOWN,
                False,
                f"the signer ({cert.subject.rfc4514_string()}) is not in the trust list",
                Verdict.UNTRUSTED,
            )
        )
    else:
        withdrawn = entry.status != "active" and (
            signed_at is None or signed_at >= entry.status_since
        )
        checks.append(
            Check(
                CheckName.PDF_SIGNER_KNOWN,
                not withdrawn,
                f"signed by key {entry.kid.hex()} of {entry.name}"
                + (
                    f"; key {entry.status} since {entry.status_since.isoformat()}"
                    if entry.status != "active"
                    else ""
                ),
                Verdict.UNTRUSTED,
            )
        )
    # 7.
    seal = _info_text(reader, SEAL_INFO_KEY)
    keywords = _info_text(reader, "/Keywords")
    if not seal:
        checks.append(Check(CheckName.PDF_SEAL, False, "the PDF carries no EL1 seal (/ELSeal)"))
        return done()
    if keywords is not None and keywords.strip() != seal.strip():
        checks.append(
            Check(CheckName.PDF_SEAL, False, "/ELSeal and /Keywords carry different seals")
        )
        return done()
    try:
        claims = decode_seal_text(seal_text_from(seal)).claims
    except SealError as e:
        checks.append(Check(CheckName.PDF_SEAL, False, f"/ELSeal is not an EL1 seal: {e.message}"))
        return done()
    checks.append(
        Check(CheckName.PDF_SEAL, True, "the PDF carries an EL1 seal (/ELSeal, /Keywords)")
    )
    # 8.
    issuer = claims.issuer
    same = entry is not None and entry.department == issuer
    checks.append(
        Check(
            CheckName.PDF_SIGNER_IS_ISSUER,
            same,
            f"the PDF is signed by the seal's issuer {issuer}"
            if same
            else f"the PDF signer ({entry.department if entry else 'unknown'}) is not the "
            f"seal's issuer ({issuer})",
            Verdict.UNTRUSTED,
        )
    )
    # 9.
    found.absorb(seal_findings(seal, trust_list=trust_list, status=status, now=now))
    return done()


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _signing_time(result: Any) -> dt.datetime | None:
    ts = getattr(result, "timestamp_validity", None)
    if ts is not None and ts.valid and ts.trusted and ts.timestamp is not None:
        return ts.timestamp  # type: ignore[no-any-return]
    reported = getattr(result, "signer_reported_dt", None)
    return reported if isinstance(reported, dt.datetime) else None


def has_signature_timestamp(sig: Any) -> bool:
    """Whether a signature carries an RFC 3161 signature time-stamp (unsigned attribute)."""
    try:
        attrs = sig.signer_info["unsigned_attrs"]
        return attrs.native is not None and any(
            a["type"].native == "signature_time_stamp_token" for a in attrs
        )
    except Exception:  # a malformed SignerInfo: no usable time-stamp
        return False


def _level(reader: PdfFileReader, sig: Any) -> str:
    """The PAdES level the file shows: B-B, B-T with a signature time-stamp, -LT with a DSS."""
    has_ts = has_signature_timestamp(sig)
    try:
        has_dss = "/DSS" in reader.root
    except Exception:
        has_dss = False
    if has_dss:
        return "B-LT" if has_ts else "B-B with validation data (DSS)"
    return "B-T" if has_ts else "B-B"
