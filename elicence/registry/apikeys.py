"""API keys with expiry and rotation: the ``api_keys`` table beside ``api_clients``.

A client has one *current* key (``api_clients.key_hash`` names it) and, during a rotation's
overlap, the keys it replaced, each with ``retires_at``. Invariants: a key is stored only as its
SHA-256; a client and its first key are written in one transaction, and so are a rotation's new
key, the old keys' ``retires_at`` and the client's current key; a rotation only ever brings a
retirement forward, never back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from elicence.errors import ConflictError, NotFoundError, RegistryError
from elicence.registry.engine import Database
from elicence.registry.models import ApiKey
from elicence.registry.tables import CLIENTS, ClientRecord, client_of

KEYS = cast(Table, ApiKey.__table__)
_LOOKUP = select(KEYS, CLIENTS).join(CLIENTS, CLIENTS.c.id == KEYS.c.client_id)
# a cached key's client re-checked on every request: one primary-key read of one column
_DISABLED = select(CLIENTS.c.disabled_at).where(CLIENTS.c.id == bindparam("client_id"))


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One stored key and the client it belongs to."""

    client: ClientRecord
    key_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    retires_at: dt.datetime | None

    @property
    def deadline(self) -> dt.datetime | None:
        """When the key stops working (the earlier of expiry and retirement), if ever."""
        ends = [t for t in (self.expires_at, self.retires_at) if t is not None]
        return min(ends) if ends else None


class ApiKeyStore:
    """Clients' keys: add a client with its first key, look a key up, rotate, list."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._db.write() as conn:
                yield conn
        except IntegrityError as e:
            raise RegistryError(f"the registry refused the change: {e.orig}") from e

    def add_client(
        self,
        *,
        client_id: str,
        name: str,
        role: str,
        department: str | None,
        key_hash: str,
        now: dt.datetime,
        holder: tuple[str, str] | None = None,
        expires_at: dt.datetime | None = None,
    ) -> ClientRecord:
        """A new client and its first key, in one transaction."""
        record = ClientRecord(
            client_id,
            name,
            role,
            department,
            now,
            None,
            holder[0] if holder else None,
            holder[1] if holder else None,
        )
        with self._write() as c:
            c.execute(
                insert(CLIENTS),
                [
                    {
                        "id": client_id,
                        "name": name,
                        "role": role,
                        "department": department,
                        "key_hash": key_hash,
                        "created_at": now,
                        "disabled_at": None,
                        "holder_id_type": record.holder_id_type,
                        "holder_id": record.holder_id,
                    }
                ],
            )
            c.execute(
                insert(KEYS),
                [
                    {
                        "key_hash": key_hash,
                        "client_id": client_id,
                        "created_at": now,
                        "expires_at": expires_at,
                        "retires_at": None,
                    }
                ],
            )
        return record

    def lookup(self, key_hash: str) -> KeyRecord | None:
        """The key with this hash and its client, or None."""
        with self._db.read() as c:
            row = c.execute(_LOOKUP.where(KEYS.c.key_hash == key_hash)).first()
        if row is None:
            return None
        return _key_of(row)

    def usable(self, client_id: str) -> bool:
        """Whether the client exists and is not disabled (the cheap re-check of a cached key:
        disabling takes effect at once in every process, docs/abuse.md)."""
        with self._db.read() as c:
            row = c.execute(_DISABLED, {"client_id": client_id}).first()
        return row is not None and row[0] is None

    def rotate(
        self,
        client_id: str,
        *,
        new_hash: str,
        now: dt.datetime,
        retire_at: dt.datetime,
        expires_at: dt.datetime | None,
    ) -> tuple[ClientRecord, int]:
        """Give a client a new current key; its live keys stop at ``retire_at`` (or earlier,
        if they already would). Returns the client and how many old keys were still live."""
        with self._write() as c:
            row = c.execute(select(CLIENTS).where(CLIENTS.c.id == client_id)).first()
            if row is None:
                raise NotFoundError(f"no client {client_id}", field="client_id")
            client = client_of(row)
            if client.disabled_at is not None:
                raise ConflictError(
                    f"client {client_id} is disabled: its keys cannot be rotated",
                    field="client_id",
                )
            live = c.execute(
                update(KEYS)
                .where(
                    KEYS.c.client_id == client_id,
                    or_(KEYS.c.retires_at.is_(None), KEYS.c.retires_at > retire_at),
                    or_(KEYS.c.expires_at.is_(None), KEYS.c.expires_at > now),
                )
                .values(retires_at=retire_at)
            ).rowcount
            c.execute(
                insert(KEYS),
                [
                    {
                        "key_hash": new_hash,
                        "client_id": client_id,
                        "created_at": now,
                        "expires_at": expires_at,
                        "retires_at": None,
                    }
                ],
            )
            c.execute(update(CLIENTS).where(CLIENTS.c.id == client_id).values(key_hash=new_hash))
        return client, int(live or 0)

    def keys(self) -> dict[str, list[KeyRecord]]:
        """Every client's keys, newest first, by client id."""
        with self._db.read() as c:
            rows = c.execute(_LOOKUP.order_by(KEYS.c.created_at.desc())).all()
        out: dict[str, list[KeyRecord]] = {}
        for row in rows:
            record = _key_of(row)
            out.setdefault(record.client.id, []).append(record)
        return out


def _key_of(row: Any) -> KeyRecord:
    m = row._mapping
    client = ClientRecord(
        m[CLIENTS.c.id],
        m[CLIENTS.c.name],
        m[CLIENTS.c.role],
        m[CLIENTS.c.department],
        m[CLIENTS.c.created_at],
        m[CLIENTS.c.disabled_at],
        m[CLIENTS.c.holder_id_type],
        m[CLIENTS.c.holder_id],
    )
    return KeyRecord(
        client,
        m[KEYS.c.key_hash],
        m[KEYS.c.created_at],
        m[KEYS.c.expires_at],
        m[KEYS.c.retires_at],
    )
