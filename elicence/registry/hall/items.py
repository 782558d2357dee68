"""Registry: the service-item catalogues: each import stored whole, as a new version; the one in
force is the latest, and the one in force at an instant is the latest imported before it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import func, select

from elicence.hall.items import ItemCatalogue
from elicence.hall.items_file import items_from_dict, items_to_dict
from elicence.registry.engine import Database
from elicence.registry.hall.statements import ITEM_CATALOGUES


def document_of(catalogue: ItemCatalogue) -> tuple[dict[str, object], str]:
    """The stored document of a catalogue and its SHA-256 (of the sorted JSON)."""
    document = items_to_dict(catalogue)
    digest = hashlib.sha256(
        json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    return document, digest


def version(db: Database) -> int | None:
    with db.read() as c:
        found: int | None = c.scalar(select(func.max(ITEM_CATALOGUES.c.id)))
        return found


def latest(db: Database) -> tuple[int, ItemCatalogue] | None:
    """The item catalogue in force and its version, or None before the first import."""
    with db.read() as c:
        row = c.execute(
            select(ITEM_CATALOGUES).order_by(ITEM_CATALOGUES.c.id.desc()).limit(1)
        ).first()
    return (row.id, items_from_dict(row.document)) if row else None


def at(db: Database, instant: dt.datetime) -> ItemCatalogue | None:
    """The item catalogue that was in force at ``instant`` (None: none was imported yet)."""
    with db.read() as c:
        row = c.execute(
            select(ITEM_CATALOGUES)
            .where(ITEM_CATALOGUES.c.imported_at < instant)
            .order_by(ITEM_CATALOGUES.c.id.desc())
            .limit(1)
        ).first()
    return items_from_dict(row.document) if row else None
