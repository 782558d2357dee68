"""The composition root: the one place where objects are built and wired together.

:func:`assemble` builds the service from explicit parts (tests, the benchmark and tools call it);
:func:`build_service` builds it from :class:`~elicence.settings.Settings` (the CLI and the API).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from elicence.app.access import Access
from elicence.app.catalogue import CatalogueSource
from elicence.app.mirror import MirroredTrust
from elicence.app.publishing import Publisher
from elicence.app.service import Elicence, utcnow
from elicence.app.stock import StockImport, WorkerRecipe
from elicence.issuer import IssuanceService
from elicence.issuer.lifecycle import LifecycleService
from elicence.keys.keyring import Keyring
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from elicence.registry.stock import StockRegistry
from elicence.settings import Settings
from elicence.templates.documents import LicenceDocuments
from elicence.templates.pdf import DEFAULT_FONT_PATH


def assemble(
    *,
    registry: Registry,
    keystore: KeyStore,
    passphrase: str,
    public_base_url: str,
    clock: Callable[[], dt.datetime] = utcnow,
    trust_list_validity: dt.timedelta = dt.timedelta(hours=24),
    status_list_validity: dt.timedelta = dt.timedelta(hours=24),
    font_path: Path = DEFAULT_FONT_PATH,
    tsa_url: str | None = None,
) -> Elicence:
    """The service over an open registry and a key store."""
    keyring = Keyring(keystore, passphrase=passphrase)
    catalogue = CatalogueSource(registry, clock=clock)
    documents = LicenceDocuments(font_path=font_path, tsa_url=tsa_url)
    publisher = Publisher(
        registry=registry,
        keyring=keyring,
        catalogue=catalogue,
        mirror=MirroredTrust(registry),
        clock=clock,
        trust_list_validity=trust_list_validity,
        status_list_validity=status_list_validity,
    )
    return Elicence(
        registry=registry,
        keystore=keystore,
        keyring=keyring,
        catalogue=catalogue,
        access=Access(registry, catalogue=catalogue, clock=clock),
        publisher=publisher,
        issuer=IssuanceService(
            store=registry,
            catalogue=catalogue,
            signers=keyring,
            clock=clock,
            printable=documents.renderer.check_printable,
        ),
        lifecycle=LifecycleService(
            store=registry, catalogue=catalogue, signers=keyring, clock=clock
        ),
        documents=documents,
        public_base_url=public_base_url,
        clock=clock,
        stock=StockImport(
            stock=StockRegistry(registry),
            catalogue=catalogue,
            recipe=WorkerRecipe(keyring.recipe(), font_path),
            checkpoint=publisher.checkpoint,
            clock=clock,
        ),
    )


def build_service(settings: Settings, *, upgrade: bool = True) -> Elicence:
    """The service for ``settings``: opens the registry and (by default) upgrades its schema."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry = Registry.from_url(settings.effective_database_url)
    if upgrade:
        registry.upgrade()
    return assemble(
        registry=registry,
        keystore=KeyStore(settings.keys_dir),
        passphrase=settings.key_passphrase.get_secret_value(),
        public_base_url=settings.public_base_url,
        trust_list_validity=dt.timedelta(hours=settings.trust_list_validity_hours),
        status_list_validity=dt.timedelta(hours=settings.status_list_validity_hours),
        font_path=settings.font_path,
        tsa_url=settings.tsa_url or None,
    )
