"""Holders: grants of authorised use (授权用证) and the nonces of presentations seen online.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicence.registry.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("identifier", sa.String(100), nullable=False),
        sa.Column("holder_id_type", sa.String(3), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("grantee_kind", sa.String(8), nullable=False),
        sa.Column("grantee", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_grants_holder", "grants", ["holder_id_type", "holder_id", "created_at"])
    op.create_index("ix_grants_grantee", "grants", ["grantee_kind", "grantee", "identifier"])
    op.create_index("ix_grants_identifier", "grants", ["identifier"])
    op.create_table(
        "presentation_nonces",
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_presentation_nonces_expires", "presentation_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_presentation_nonces_expires", table_name="presentation_nonces")
    op.drop_table("presentation_nonces")
    op.drop_index("ix_grants_identifier", table_name="grants")
    op.drop_index("ix_grants_grantee", table_name="grants")
    op.drop_index("ix_grants_holder", table_name="grants")
    op.drop_table("grants")
