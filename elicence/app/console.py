"""Application layer: the department console's own use case: preview a licence before issuing it.

Reached as ``Elicence.console``. A preview checks the request exactly as issuance will (the
catalogue rules, the department's right to issue the type, the licence font) and renders an
unsigned PDF marked 草稿 DRAFT. Invariant: a preview writes nothing and signs nothing: no
identifier, no status index, no seal, no event; confirming it issues through the issuer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from elicence.app import access
from elicence.domain.catalogue import Catalogue, Department, LicenceType
from elicence.domain.clients import Client
from elicence.domain.licence import IssuanceRequest
from elicence.issuer.validation import check_request
from elicence.templates.documents import LicenceDocuments


@dataclass(frozen=True, slots=True)
class Draft:
    """A checked request, what it would be issued as, and its unsigned PDF."""

    request: IssuanceRequest
    licence_type: LicenceType
    department: Department
    pdf: bytes


class Console:
    """Previews for the department console."""

    def __init__(
        self,
        *,
        catalogue: Callable[[], Catalogue],
        documents: LicenceDocuments,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._catalogue = catalogue
        self._documents = documents
        self._clock = clock

    def preview(self, client: Client, raw: Mapping[str, Any]) -> Draft:
        """Check ``raw`` as issuance would and render it unsigned, marked 草稿; store nothing."""
        department = access.issuing_department(client)
        catalogue = self._catalogue()
        dept = catalogue.department(department)
        request = check_request(raw, catalogue=catalogue, department=dept)
        self._documents.renderer.check_printable(request)
        licence_type = catalogue.licence_type(request.type_code)
        pdf = self._documents.draft(
            request, licence_type=licence_type, department=dept, now=self._clock()
        )
        return Draft(request, licence_type, dept, pdf)
