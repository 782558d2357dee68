"""Event hash chain, signed checkpoints, status list indices and mirror state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Existing events are chained in ``seq`` order as they stand (docs/formats.md §7).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from elicence.registry.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("events", sa.Column("hash", sa.String(64), nullable=True))
    op.add_column("licences", sa.Column("status_index", sa.Integer, nullable=True))
    op.create_index(
        "ix_licences_department_status_index", "licences", ["department", "status_index"]
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("signed", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "status_counters",
        sa.Column("department", sa.String(18), primary_key=True),
        sa.Column("next_index", sa.Integer, nullable=False),
    )
    op.create_table(
        "mirror_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("upstream", sa.String(500), nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("trust_list", sa.LargeBinary, nullable=True),
        sa.Column("checkpoint", sa.LargeBinary, nullable=True),
        sa.Column("catalogue_digest", sa.String(64), nullable=True),
        sa.Column("pulled_at", UTCDateTime(), nullable=True),
    )
    _chain_existing_events()


def _chain_existing_events() -> None:
    events = sa.table(
        "events",
        sa.column("seq", sa.Integer),
        sa.column("at", UTCDateTime()),
        sa.column("kind", sa.String),
        sa.column("identifier", sa.String),
        sa.column("department", sa.String),
        sa.column("actor", sa.String),
        sa.column("detail", sa.JSON),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    conn = op.get_bind()
    prev = GENESIS
    rows = conn.execute(sa.select(events).order_by(events.c.seq)).all()
    for expected, row in enumerate(rows, start=1):
        if row.seq != expected:  # the chain needs 1, 2, 3 …: renumber a gap left by a rollback
            conn.execute(sa.update(events).where(events.c.seq == row.seq).values(seq=expected))
        digest = event_hash(
            prev,
            seq=expected,
            at=row.at,
            kind=row.kind,
            identifier=row.identifier,
            department=row.department,
            actor=row.actor,
            detail=row.detail,
        )
        conn.execute(
            sa.update(events).where(events.c.seq == expected).values(prev_hash=prev, hash=digest)
        )
        prev = digest


# -- the hash chain as it was defined when this migration was written (docs/formats.md §7) -----
# Frozen here on purpose: a migration must do tomorrow what it did the day it was written, even
# if elicence.formats.eventlog changes. tests/registry/test_eventlog.py checks that the two agree.

GENESIS = "0" * 64


def _instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_hash(
    prev_hash: str,
    *,
    seq: int,
    at: dt.datetime,
    kind: str,
    identifier: str,
    department: str,
    actor: str,
    detail: dict[str, Any],
) -> str:
    body = json.dumps(
        {
            "seq": seq,
            "at": _instant(at),
            "kind": kind,
            "identifier": identifier,
            "department": department,
            "actor": actor,
            "detail": dict(detail),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def downgrade() -> None:
    op.drop_table("mirror_state")
    op.drop_table("status_counters")
    op.drop_table("checkpoints")
    op.drop_index("ix_licences_department_status_index", table_name="licences")
    with op.batch_alter_table("licences") as batch:
        batch.drop_column("status_index")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
