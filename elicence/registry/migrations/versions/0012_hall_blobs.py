"""Uploads stored once per applicant and SHA-256 (issue 18): table ``hall_blobs`` holds the
bytes, each ``hall_uploads`` row references one (``blob_id``). The rows already stored are moved
into blobs, one per applicant and hash (duplicates of the same file by the same applicant become
one blob), and their ``content`` is cleared; nothing is lost: downgrade copies the bytes back.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicence.registry.models import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_cases = sa.table(
    "hall_cases",
    sa.column("number", sa.String),
    sa.column("applicant_id_type", sa.String),
    sa.column("applicant_id", sa.String),
)
_uploads = sa.table(
    "hall_uploads",
    sa.column("id", sa.Integer),
    sa.column("case_number", sa.String),
    sa.column("size", sa.Integer),
    sa.column("sha256", sa.String),
    sa.column("uploaded_at", sa.DateTime),
    sa.column("blob_id", sa.Integer),
    sa.column("content", sa.LargeBinary),
)
_blobs = sa.table(
    "hall_blobs",
    sa.column("id", sa.Integer),
    sa.column("holder_id_type", sa.String),
    sa.column("holder_id", sa.String),
    sa.column("sha256", sa.String),
    sa.column("size", sa.Integer),
    sa.column("created_at", sa.DateTime),
    sa.column("content", sa.LargeBinary),
)


def upgrade() -> None:
    op.create_table(
        "hall_blobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("holder_id_type", sa.String(3), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint(
            "holder_id_type", "holder_id", "sha256", name="uq_hall_blobs_holder_sha256"
        ),
    )
    with op.batch_alter_table("hall_uploads") as batch:
        batch.add_column(sa.Column("blob_id", sa.Integer(), nullable=True))
        batch.alter_column("content", existing_type=sa.LargeBinary(), nullable=True)
        batch.create_foreign_key("fk_hall_uploads_blob", "hall_blobs", ["blob_id"], ["id"])
        batch.create_index("ix_hall_uploads_blob", ["blob_id"])
    _move_to_blobs(op.get_bind())


def _move_to_blobs(conn: sa.Connection) -> None:
    """One blob per applicant and hash; each row then references it and drops its copy. Row by
    row (ids first, then one row's bytes at a time), so memory holds one file."""
    ids = conn.execute(
        sa.select(_uploads.c.id, _cases.c.applicant_id_type, _cases.c.applicant_id)
        .join(_cases, _cases.c.number == _uploads.c.case_number)
        .where(_uploads.c.blob_id.is_(None))
        .order_by(_uploads.c.id)
    ).all()
    known: dict[tuple[str, str, str], int] = {}
    for upload_id, id_type, holder_id in ids:
        row = conn.execute(
            sa.select(
                _uploads.c.sha256, _uploads.c.size, _uploads.c.uploaded_at, _uploads.c.content
            ).where(_uploads.c.id == upload_id)
        ).one()
        key = (id_type, holder_id, row.sha256)
        blob = known.get(key)
        if blob is None:
            blob = conn.execute(
                sa.insert(_blobs).returning(_blobs.c.id),
                {
                    "holder_id_type": id_type,
                    "holder_id": holder_id,
                    "sha256": row.sha256,
                    "size": row.size,
                    "created_at": row.uploaded_at,
                    "content": row.content,
                },
            ).scalar_one()
            known[key] = blob
        conn.execute(
            sa.update(_uploads).where(_uploads.c.id == upload_id).values(blob_id=blob, content=None)
        )


def downgrade() -> None:
    conn = op.get_bind()
    for upload_id, blob_id in conn.execute(
        sa.select(_uploads.c.id, _uploads.c.blob_id).where(_uploads.c.blob_id.is_not(None))
    ).all():
        content = conn.execute(
            sa.select(_blobs.c.content).where(_blobs.c.id == blob_id)
        ).scalar_one()
        conn.execute(sa.update(_uploads).where(_uploads.c.id == upload_id).values(content=content))
    with op.batch_alter_table("hall_uploads") as batch:
        batch.drop_index("ix_hall_uploads_blob")
        batch.drop_constraint("fk_hall_uploads_blob", type_="foreignkey")
        batch.alter_column("content", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("blob_id")
    op.drop_table("hall_blobs")
