"""Build an :class:`~elicence.services.Elicence` from :class:`~elicence.settings.Settings`.

The one place where settings become objects; the CLI and the API both start here.
"""

from __future__ import annotations

import datetime as dt

from elicence.keys.store import KeyStore
from elicence.registry import Registry
from elicence.services import Elicence
from elicence.settings import Settings


def build_service(settings: Settings, *, upgrade: bool = True) -> Elicence:
    """The service for ``settings``: opens the registry and (by default) upgrades its schema."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry = Registry.from_url(settings.effective_database_url)
    if upgrade:
        registry.upgrade()
    return Elicence(
        registry=registry,
        keystore=KeyStore(settings.keys_dir),
        passphrase=settings.key_passphrase.get_secret_value(),
        public_base_url=settings.public_base_url,
        trust_list_validity=dt.timedelta(hours=settings.trust_list_validity_hours),
        status_list_validity=dt.timedelta(hours=settings.status_list_validity_hours),
        font_path=settings.font_path,
        tsa_url=settings.tsa_url or None,
    )
