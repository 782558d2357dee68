"""Registry: the audit trail's storage: the append-only ``audit_trail`` table.

Invariants: this module only inserts and selects (triggers made by migration 0006 refuse an
UPDATE or DELETE on SQLite and PostgreSQL alike); a record is written in its own transaction;
queries page by ``id`` (ascending), which is the order records were written in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import SQLAlchemyError

from elicence.domain.trailquery import TrailQuery
from elicence.errors import RegistryError
from elicence.registry.engine import Database
from elicence.registry.models import AuditRecord

TRAIL = cast(Table, AuditRecord.__table__)
INSERT_TRAIL = insert(TRAIL)


@dataclass(frozen=True, slots=True)
class TrailRecord:
    """One privileged action as stored."""

    id: int
    at: dt.datetime
    actor: str
    role: str | None
    action: str
    target: str | None
    outcome: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    address: str | None = None


class TrailStore:
    """Append records; read them back with filters."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def append(
        self,
        *,
        at: dt.datetime,
        actor: str,
        role: str | None,
        action: str,
        target: str | None,
        outcome: str,
        detail: Mapping[str, Any],
        request_id: str | None,
        address: str | None,
    ) -> None:
        row = {
            "at": at,
            "actor": actor[:64],
            "role": role,
            "action": action,
            "target": target[:200] if target else None,
            "outcome": outcome,
            "detail": dict(detail),
            "request_id": request_id,
            "address": address,
        }
        try:
            with self._db.write() as c:
                c.execute(INSERT_TRAIL, [row])
        except (SQLAlchemyError, RegistryError) as e:
            raise RegistryError(f"could not write the audit trail: {e}") from e

    def records(self, query: TrailQuery) -> list[TrailRecord]:
        """The records ``query`` asks for, oldest first."""
        q = select(TRAIL).where(TRAIL.c.id > query.after)
        if query.actor is not None:
            q = q.where(TRAIL.c.actor == query.actor)
        if query.action is not None:
            # "licence" matches every licence.* action; "licence.revoke" only itself
            q = q.where(
                (TRAIL.c.action == query.action)
                | TRAIL.c.action.startswith(query.action + ".", autoescape=True)
            )
        if query.target is not None:
            q = q.where(TRAIL.c.target == query.target)
        if query.outcome is not None:
            q = q.where(TRAIL.c.outcome == query.outcome)
        if query.since is not None:
            q = q.where(TRAIL.c.at >= query.since)
        if query.until is not None:
            q = q.where(TRAIL.c.at < query.until)
        with self._db.read() as c:
            rows = c.execute(q.order_by(TRAIL.c.id).limit(query.limit)).all()
        return [
            TrailRecord(
                r.id,
                r.at,
                r.actor,
                r.role,
                r.action,
                r.target,
                r.outcome,
                dict(r.detail),
                r.request_id,
                r.address,
            )
            for r in rows
        ]
