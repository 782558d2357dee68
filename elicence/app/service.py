"""Application layer: the facade the API and the CLI call, ``Elicence``: one sub-facade per area,
each use case checking who may do it and delegating to the part that does it.

Built only by :func:`elicence.bootstrap.assemble`. The areas: ``licences`` (issuance, reading,
the signed PDF, the lifecycle: app/licences.py), ``verification`` (app/verification.py), ``keys``
(key ceremonies and the trust material: app/custody.py), ``clients`` (app/clients.py), ``log``
(checkpoints, the feed, the audit, mirrors: app/eventlog.py), ``hall``, ``holder``, ``console``,
``stock``, ``trail``, ``backups``, ``guard``; the catalogue and the service's health stay here.
Invariants: every verification through ``verification`` leaves a usage record; every change of
the log is followed by a checkpoint within ``CHECKPOINT_INTERVAL``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from elicence.app.access import Access, NewClient
from elicence.app.backup import Backups
from elicence.app.catalogue import CatalogueSource
from elicence.app.clients import Clients
from elicence.app.console import Console
from elicence.app.custody import Keys
from elicence.app.eventlog import EventLog
from elicence.app.guard import Guard
from elicence.app.hall import Hall
from elicence.app.holder import Holders
from elicence.app.licences import Licences
from elicence.app.publishing import Publisher
from elicence.app.reading import LicenceReading
from elicence.app.signin import SignIn
from elicence.app.stock import StockImport
from elicence.app.trail import Trail, TrailAction
from elicence.app.verification import Verification
from elicence.domain.catalogue import Catalogue
from elicence.issuer import IssuanceService
from elicence.issuer.lifecycle import LifecycleService
from elicence.keys.keyring import Keyring
from elicence.keys.store import KeyEntry, KeyStore
from elicence.registry import Registry
from elicence.templates.documents import LicenceDocuments

__all__ = ["Elicence", "NewClient", "utcnow"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Elicence:
    """One instance per process."""

    CHECKPOINT_INTERVAL = EventLog.CHECKPOINT_INTERVAL

    def __init__(
        self,
        *,
        registry: Registry,
        keystore: KeyStore,
        keyring: Keyring,
        catalogue: CatalogueSource,
        access: Access,
        publisher: Publisher,
        issuer: IssuanceService,
        lifecycle: LifecycleService,
        documents: LicenceDocuments,
        public_base_url: str,
        clock: Callable[[], dt.datetime],
        guard: Guard,
        trail: Trail,
        hall: Hall,
        stock: StockImport,
        sign_in: SignIn,
    ) -> None:
        # Tests and operators' scripts may look at ``registry`` and ``keystore``; the API and the
        # CLI call methods only (tests/test_layers.py holds them to it).
        self.registry = registry
        self.keystore = keystore
        self.public_base_url = public_base_url.rstrip("/")
        self.clock = clock
        self.guard = guard  # rate limits (app/guard.py)
        self.trail = trail  # the audit trail of privileged actions (app/trail.py)
        self.backups = Backups(registry, keystore, trail, clock=clock)  # app/backup.py
        self._keyring = keyring
        self._catalogue = catalogue
        self.hall = hall  # the hall's case API (办件): its own facade (app/hall.py)
        self.stock = stock  # stock conversion: `elicence import` (app/stock.py)
        # the event log: checkpoints, the change feed, the audit, mirrors (app/eventlog.py)
        self.log = EventLog(registry, publisher, trail, clock=clock)
        # key ceremonies and the trust material (app/custody.py)
        self.keys = Keys(
            keyring=keyring,
            publisher=publisher,
            registry=registry,
            catalogue=catalogue,
            trail=trail,
            log=self.log,
            public_base_url=self.public_base_url,
            clock=clock,
        )
        self._reading = LicenceReading(  # one licence, a search, a PDF (app/reading.py)
            registry=registry,
            catalogue=catalogue,
            keyring=keyring,
            documents=documents,
            public_base_url=self.public_base_url,
            clock=clock,
        )
        # issuance, reading, the signed PDF and the lifecycle (app/licences.py)
        self.licences = Licences(
            reading=self._reading,
            issuer=issuer,
            lifecycle=lifecycle,
            trail=trail,
            log=self.log,
            public_base_url=self.public_base_url,
            clock=clock,
        )
        # verification with a usage record (app/verification.py)
        self.verification = Verification(registry=registry, publisher=publisher, clock=clock)
        self.clients = Clients(access, trail)  # API clients and their keys (app/clients.py)
        # the holder side (app/holder.py): reads licences as above, not through this facade
        self.holder = Holders(
            reading=self._reading,
            trust_list=publisher.trust_list,
            registry=registry,
            access=access,
            service_signer=keyring.service,
            sign_in=sign_in,
            clock=clock,
        )
        self.console = Console(catalogue=catalogue, documents=documents, clock=clock)  # 草稿

    @property
    def documents(self) -> LicenceDocuments:
        """What makes and signs the licences' PDFs (tests swap it: e.g. one with a TSA)."""
        return self._reading.documents

    @documents.setter
    def documents(self, documents: LicenceDocuments) -> None:
        self._reading.documents = documents

    def close(self) -> None:
        """Write what is queued (usage records) and close the database."""
        self.guard.close()
        self.registry.dispose()

    def flush(self) -> None:
        """Write what is queued (usage records) now."""
        self.registry.flush_usage()

    def health(self) -> dict[str, Any]:
        """``ok``, or ``degraded`` naming who cannot sign now (department USCCs, ``service``,
        ``root``): an active key that does not open, or a token signer that is down; never
        a file."""
        down = sorted(set(self.keys.unusable()) | set(self._keyring.unavailable()))
        body: dict[str, Any] = {
            "status": "degraded" if down else "ok",
            "catalogue_version": self._catalogue.version(),
        }
        if down:
            body["signers_unavailable"] = down
        return body

    # -- catalogue ------------------------------------------------------------------------------

    def catalogue(self) -> Catalogue:
        """The catalogue in force (re-read at most every few seconds when it changed)."""
        return self._catalogue()

    def catalogue_version(self) -> int | None:
        return self._catalogue.version()

    def import_catalogue(self, catalogue: Catalogue) -> tuple[int, list[KeyEntry]]:
        """Store a new catalogue; give every new department a signing key."""
        self.keys.check_root_for(catalogue)  # before anything is stored
        with self.trail.action(TrailAction.CATALOGUE_IMPORT, client=None) as rec:
            version = self._catalogue.import_(catalogue)
            rec.update(
                version=version,
                licence_types=len(catalogue.licence_types),
                departments=len(catalogue.departments),
            )
        return version, self.keys.init(catalogue)
