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
from elicence.app.hall import Hall, IssuerSeam, ItemSource, RegistryCitations
from elicence.app.mirror import MirroredTrust
from elicence.app.publishing import Publisher
from elicence.app.service import Elicence, utcnow
from elicence.hall.calendar import DEMO_HOLIDAYS, WorkingCalendar, load_calendar
from elicence.hall.service import CaseService
from elicence.issuer import IssuanceService
from elicence.issuer.lifecycle import LifecycleService
from elicence.keys.keyring import Keyring
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from elicence.registry.hall import HallStore
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
    holidays: WorkingCalendar | None = None,
    rectify_days: int = 15,
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
    issuer = IssuanceService(
        store=registry,
        catalogue=catalogue,
        signers=keyring,
        clock=clock,
        printable=documents.renderer.check_printable,
    )
    hall_store = HallStore(registry)
    items = ItemSource(hall_store)
    hall = Hall(
        store=hall_store,
        items=items,
        licences=catalogue,
        cases=CaseService(
            store=hall_store,
            items=items,
            licences=catalogue,
            citations=RegistryCitations(hall_store, trust_list=publisher.trust_list, clock=clock),
            issuer=IssuerSeam(
                issuer,
                catalogue=catalogue,
                registry=registry,
                printable=documents.renderer.check_printable,
                after_issue=lambda: publisher.checkpoint(min_interval=Elicence.CHECKPOINT_INTERVAL),
            ),
            usage=registry,
            calendar=holidays if holidays is not None else load_calendar(DEMO_HOLIDAYS),
            clock=clock,
            rectify_days=rectify_days,
        ),
        clock=clock,
    )
    return Elicence(
        registry=registry,
        keystore=keystore,
        keyring=keyring,
        catalogue=catalogue,
        access=Access(
            registry, catalogue=catalogue, clock=clock, other_departments=items.knows_department
        ),
        publisher=publisher,
        issuer=issuer,
        lifecycle=LifecycleService(
            store=registry, catalogue=catalogue, signers=keyring, clock=clock
        ),
        documents=documents,
        public_base_url=public_base_url,
        clock=clock,
        hall=hall,
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
        holidays=load_calendar(settings.holidays_file or DEMO_HOLIDAYS),
        rectify_days=settings.rectify_days,
    )
