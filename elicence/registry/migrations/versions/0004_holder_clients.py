"""Holder clients: an API client may act for one holder (id type code and id number).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("holder_id_type", sa.String(3), nullable=True))
        batch.add_column(sa.Column("holder_id", sa.String(64), nullable=True))
    op.create_index("ix_api_clients_holder", "api_clients", ["holder_id_type", "holder_id"])


def downgrade() -> None:
    op.drop_index("ix_api_clients_holder", table_name="api_clients")
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("holder_id")
        batch.drop_column("holder_id_type")
