"""Holders' favourite service items (收藏, issue 18).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hall_favourites",
        sa.Column("holder_id_type", sa.String(3), primary_key=True),
        sa.Column("holder_id", sa.String(64), primary_key=True),
        sa.Column("item_code", sa.String(40), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hall_favourites")
