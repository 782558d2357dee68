"""Abuse resistance: API keys with expiry and rotation (``api_keys``), and the append-only
audit trail of privileged actions (``audit_trail``, guarded by triggers).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Every existing client's key becomes its current key in ``api_keys``, with no expiry.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicence.registry.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APPEND_ONLY = "audit_trail is append-only"


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(32), sa.ForeignKey("api_clients.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("retires_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_api_keys_client", "api_keys", ["client_id"])
    op.execute(
        "INSERT INTO api_keys (key_hash, client_id, created_at) "
        "SELECT key_hash, id, created_at FROM api_clients"
    )
    op.create_table(
        "audit_trail",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
    )
    for column in ("at", "actor", "action", "target"):
        op.create_index(f"ix_audit_trail_{column}", "audit_trail", [column])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_trail_append_only BEFORE UPDATE OR DELETE ON audit_trail "
            "FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_trail_no_{verb.lower()} BEFORE {verb} ON audit_trail "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_trail_append_only ON audit_trail")
        op.execute("DROP FUNCTION IF EXISTS audit_trail_append_only()")
    op.drop_table("audit_trail")
    op.drop_index("ix_api_keys_client", table_name="api_keys")
    op.drop_table("api_keys")
