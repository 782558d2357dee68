"""Reading licences under the access rules: one licence, a search, and its signed PDF (made at
the first request, then served kept).

Reached through the facade (``Elicence.licence_for``, ``search``, ``licence_pdf``) and used by
the holder side (``app/holder.py``) directly, so that neither points back at the facade.

Invariants: a licence a client may not read is 404, as if it did not exist
(``access.check_may_read``); a search never widens beyond the client's scope
(``access.search_scope``); a licence's PDF is made once and kept (the registry's copy is served
from then on), signed by the department's active signer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from elicence.app import access
from elicence.app.catalogue import CatalogueSource
from elicence.domain.clients import Client
from elicence.domain.codes import parse_identifier
from elicence.domain.licence import Licence
from elicence.issuer.service import signer_for
from elicence.keys.keyring import Keyring
from elicence.registry import Registry
from elicence.templates.documents import LicenceDocuments


class LicenceReading:
    """One licence, a search, a PDF: each for the client asking, under its read rules."""

    def __init__(
        self,
        *,
        registry: Registry,
        catalogue: CatalogueSource,
        keyring: Keyring,
        documents: LicenceDocuments,
        public_base_url: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._registry = registry
        self._catalogue = catalogue
        self._keyring = keyring
        self.documents = documents
        self._public_base_url = public_base_url
        self._clock = clock

    def licence_for(self, client: Client, identifier: str) -> Licence:
        ident = str(parse_identifier(identifier))
        return access.check_may_read(client, self._registry.licence(ident), ident)

    def search(self, client: Client, **filters: Any) -> list[Licence]:
        asked = (
            (filters["holder_id_type"], filters["holder_id"])
            if filters.get("holder_id_type") is not None
            else None
        )
        scope = access.search_scope(client, department=filters.get("department"), holder=asked)
        if not scope.anything:
            return []
        filters["department"] = scope.department
        if scope.holder is not None:
            filters["holder_id_type"] = str(scope.holder.id_type)
            filters["holder_id"] = scope.holder.id_number
        return self._registry.search(**filters)

    def pdf(self, client: Client, identifier: str) -> bytes:
        """The signed PDF of a licence the client may read: made and kept at the first
        request, then served kept."""
        lic = self.licence_for(client, identifier)
        kept = self._registry.document(lic.identifier)
        if kept is not None:
            return kept
        catalogue = self._catalogue()
        department = catalogue.department(lic.department_uscc)
        now = self._clock()
        pdf = self.documents.make(
            lic,
            licence_type=catalogue.licence_type(lic.type_code),
            department=department,
            signer=signer_for(self._keyring, department),
            root=self._keyring.root_certificate(),
            public_base_url=self._public_base_url,
            crl=self._keyring.current_crl(now),
            now=now,
        )
        return self._registry.keep_document(lic.identifier, pdf, now=now)
