"""Templates: signed licence PDFs: render a licence (:mod:`.pdf`), then sign it as its department.

Signing is :mod:`.pades`.

Invariants: the seal text is in the PDF's QR code, in its /Keywords and in its /ELSeal entry, so
PDF, QR code and registry agree; one :class:`PadesSigner` per department key is built and reused.
Given everything it needs (font path, TSA URL); reads no settings.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from cryptography import x509
from pyhanko.sign.timestamps import TimeStamper

from elicence.domain.catalogue import Department, LicenceType
from elicence.domain.licence import IssuanceRequest, Licence
from elicence.keys.signer import Signer
from elicence.templates.pades import SEAL_INFO_KEY, PadesSigner, http_timestamper
from elicence.templates.pdf import DEFAULT_FONT_PATH, LicenceRenderer


class LicenceDocuments:
    """Makes signed licence PDFs (thread-safe; one per process)."""

    def __init__(
        self,
        *,
        font_path: Path = DEFAULT_FONT_PATH,
        tsa_url: str | None = None,
        timestamper: TimeStamper | None = None,
    ) -> None:
        self.renderer = LicenceRenderer(font_path)
        self._timestamper = timestamper or (http_timestamper(tsa_url) if tsa_url else None)
        self._signers: dict[bytes, PadesSigner] = {}
        self._lock = threading.Lock()

    @property
    def level(self) -> str:
        """The PAdES level without a CRL: B-T with a time-stamping authority, else B-B."""
        return "B-T" if self._timestamper is not None else "B-B"

    def pades_signer(self, signer: Signer, *, root: x509.Certificate, name: str) -> PadesSigner:
        """The PAdES signer of a department key (built once per key)."""
        cached = self._signers.get(signer.kid)
        if cached is not None and cached.signer is signer:
            return cached
        with self._lock:
            made = PadesSigner(
                signer, chain=[root], timestamper=self._timestamper, signer_name=name
            )
            self._signers[signer.kid] = made
            return made

    def draft(
        self,
        request: IssuanceRequest,
        *,
        licence_type: LicenceType,
        department: Department,
        now: dt.datetime,
    ) -> bytes:
        """An unsigned preview of a licence not yet issued, marked 草稿 DRAFT (nothing sealed)."""
        preview = Licence.of_request(
            request,
            identifier="（签发时生成 made at issuance）",
            department_uscc=department.uscc,
            version=1,
            issued_at=now,
            seal="",
            kid="",
        )
        return self.renderer.render(
            preview,
            licence_type=licence_type,
            department=department,
            public_base_url="",
            draft=True,
        )

    def make(
        self,
        licence: Licence,
        *,
        licence_type: LicenceType,
        department: Department,
        signer: Signer,
        root: x509.Certificate,
        public_base_url: str,
        crl: bytes | None,
        now: dt.datetime,
    ) -> bytes:
        """The signed PDF of ``licence``: B-LT when ``crl`` is given, else B-T or B-B."""
        unsigned = self.renderer.render(
            licence,
            licence_type=licence_type,
            department=department,
            public_base_url=public_base_url,
        )
        pades = self.pades_signer(signer, root=root, name=department.name_zh)
        return pades.sign(unsigned, info={SEAL_INFO_KEY: licence.seal}, crl=crl, now=now)
