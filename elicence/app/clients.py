"""Application layer: API clients, ``Elicence.clients`` — made, listed, their keys rotated with
an overlap, disabled (each recorded in the audit trail), and authenticated by key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from elicence.app.access import Access, NewClient, Rotation
from elicence.app.trail import Trail, TrailAction
from elicence.domain.clients import Client, Role
from elicence.domain.licence import HolderRef
from elicence.registry import ClientRecord


class Clients:
    """API clients as the API and the command line use them."""

    def __init__(self, access: Access, trail: Trail) -> None:
        self._access = access
        self._trail = trail

    def add(
        self,
        *,
        name: str,
        role: Role,
        department: str | None,
        holder: HolderRef | None = None,
        expires_at: dt.datetime | None = None,
    ) -> NewClient:
        with self._trail.action(
            TrailAction.CLIENT_ADD,
            client=None,
            role=str(role),
            department=department,
            holder=str(holder) if holder else None,
            expires_at=expires_at,
        ) as rec:
            made = self._access.add_client(
                name=name, role=role, department=department, holder=holder, expires_at=expires_at
            )
            rec["client"] = made.client.id
        return made

    def rotate(
        self, client_id: str, *, overlap: dt.timedelta, expires_at: dt.datetime | None = None
    ) -> Rotation:
        """A new API key for a client (shown once); the old one works for ``overlap`` more."""
        with self._trail.action(
            TrailAction.CLIENT_ROTATE,
            client=None,
            target=client_id,
            overlap_seconds=overlap.total_seconds(),
            expires_at=expires_at,
        ) as rec:
            rotation = self._access.rotate_key(client_id, overlap=overlap, expires_at=expires_at)
            rec.update(old_keys=rotation.old_keys, retires_at=rotation.retires_at)
        return rotation

    def keys(self) -> dict[str, list[Any]]:
        """Every client's keys (hashes, expiry, end of overlap), newest first."""
        return dict(self._access.keys())

    def authenticate(self, api_key: str) -> Client:
        return self._access.authenticate(api_key)

    def cached(self, api_key: str) -> Client | None:
        """The key's client from the cache, not re-checked (``Access.cached``), or None."""
        return self._access.cached(api_key)

    def all(self) -> list[ClientRecord]:
        return self._access.clients()

    def disable(self, client_id: str) -> None:
        with self._trail.action(TrailAction.CLIENT_DISABLE, client=None, target=client_id):
            self._access.disable_client(client_id)
