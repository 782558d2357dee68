"""Initial schema: catalogue versions, API clients, licences, events, usage records.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicence.registry.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
    )
    op.create_table(
        "api_clients",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("department", sa.String(18), nullable=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "licences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("identifier", sa.String(100), nullable=False, unique=True),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("type_code", sa.String(21), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("licence_number", sa.String(64), nullable=False),
        sa.Column("holder_name", sa.String(200), nullable=False),
        sa.Column("holder_id_type", sa.String(3), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("seal", sa.Text, nullable=False),
        sa.Column("kid", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("superseded_by", sa.String(100), nullable=True),
        sa.UniqueConstraint("department", "source_ref", name="uq_licences_department_source_ref"),
    )
    op.create_index("ix_licences_holder", "licences", ["holder_id_type", "holder_id"])
    op.create_index("ix_licences_type_code", "licences", ["type_code"])
    op.create_index("ix_licences_department_issued", "licences", ["department", "issued_at"])
    op.create_index("ix_licences_serial", "licences", ["serial"])
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("identifier", sa.String(100), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_identifier", "events", ["identifier"])
    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("client_id", sa.String(32), sa.ForeignKey("api_clients.id"), nullable=True),
        sa.Column("identifier", sa.String(100), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("authenticated", sa.Boolean, nullable=False),
    )
    op.create_index("ix_usage_identifier", "usage_records", ["identifier"])


def downgrade() -> None:
    op.drop_table("usage_records")
    op.drop_table("events")
    op.drop_table("licences")
    op.drop_table("api_clients")
    op.drop_table("catalogue_versions")
