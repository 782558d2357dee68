"""The notices (办事提示) a holder has seen, kept per holder on the server (issue 18): read on a
phone, read on the PC too.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hall_notices_seen",
        sa.Column("holder_id_type", sa.String(3), primary_key=True),
        sa.Column("holder_id", sa.String(64), primary_key=True),
        sa.Column("notice_key", sa.String(160), primary_key=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hall_notices_seen")
