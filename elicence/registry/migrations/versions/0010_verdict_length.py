"""A usage record's verdict up to 32 characters: ``unsupported_algorithm`` (21) did not fit the
16 of 0001 on PostgreSQL (issue 19, ADR 0016).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.alter_column(
            "verdict", type_=sa.String(32), existing_type=sa.String(16), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.alter_column(
            "verdict", type_=sa.String(16), existing_type=sa.String(32), existing_nullable=False
        )
