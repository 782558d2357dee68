"""Stock conversion: the progress of each import run, committed with the rows it stored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicence.registry.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("department", sa.String(18), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("rows_done", sa.Integer, nullable=False),
        sa.Column("report_bytes", sa.Integer, nullable=False),
        sa.Column("created", sa.Integer, nullable=False),
        sa.Column("existing", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("import_runs")
