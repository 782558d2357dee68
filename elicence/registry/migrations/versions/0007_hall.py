"""The hall's cases (issue 7): service-item catalogues, cases, uploads, case events, ratings,
rectification work orders, complaints; usage records name the case that cited the licence.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicence.registry.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("case_number", sa.String(21), nullable=True))
    op.create_index("ix_usage_case_number", "usage_records", ["case_number"])
    op.create_table(
        "hall_item_catalogues",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
    )
    op.create_table(
        "hall_cases",
        sa.Column("number", sa.String(21), primary_key=True),
        sa.Column("item_code", sa.String(40), nullable=False),
        sa.Column("item_version", sa.Integer, nullable=False),
        sa.Column("item", sa.JSON, nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("division", sa.String(6), nullable=False),
        sa.Column("applicant_id_type", sa.String(3), nullable=False),
        sa.Column("applicant_id", sa.String(64), nullable=False),
        sa.Column("applicant_name", sa.String(200), nullable=False),
        sa.Column("applicant_client", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("form", sa.JSON, nullable=False),
        sa.Column("citations", sa.JSON, nullable=False),
        sa.Column("uploads", sa.JSON, nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("accepted_on", sa.Date, nullable=True),
        sa.Column("due_on", sa.Date, nullable=True),
        sa.Column("paused_since", sa.Date, nullable=True),
        sa.Column("paused_days", sa.Integer, nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("licence", sa.String(100), nullable=True),
        sa.Column("issuance", sa.JSON, nullable=True),
        sa.Column("visits", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_hall_cases_department_status", "hall_cases", ["department", "status"])
    op.create_index("ix_hall_cases_applicant", "hall_cases", ["applicant_id_type", "applicant_id"])
    op.create_index("ix_hall_cases_completed_at", "hall_cases", ["completed_at"])
    op.create_index("ix_hall_cases_status_due_on", "hall_cases", ["status", "due_on"])
    op.create_table(
        "hall_uploads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_number", sa.String(21), sa.ForeignKey("hall_cases.number"), nullable=False),
        sa.Column("material", sa.String(40), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_hall_uploads_case_material", "hall_uploads", ["case_number", "material"])
    op.create_table(
        "hall_case_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_number", sa.String(21), sa.ForeignKey("hall_cases.number"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(24), nullable=True),
        sa.Column("to_status", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_hall_case_events_case", "hall_case_events", ["case_number"])
    op.create_table(
        "hall_ratings",
        sa.Column(
            "case_number", sa.String(21), sa.ForeignKey("hall_cases.number"), primary_key=True
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("stars", sa.Integer, nullable=False),
        sa.Column("dimensions", sa.JSON, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
    )
    op.create_index("ix_hall_ratings_at", "hall_ratings", ["at"])
    op.create_table(
        "hall_rectifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_number", sa.String(21), sa.ForeignKey("hall_cases.number"), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_hall_rectifications_department", "hall_rectifications", ["department", "status"]
    )
    op.create_table(
        "hall_complaints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_number", sa.String(21), sa.ForeignKey("hall_cases.number"), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("answered_by", sa.String(64), nullable=True),
        sa.Column("substantiated", sa.Boolean, nullable=True),
    )
    op.create_index("ix_hall_complaints_department", "hall_complaints", ["department"])
    op.create_index("ix_hall_complaints_at", "hall_complaints", ["at"])


def downgrade() -> None:
    for table in (
        "hall_complaints",
        "hall_rectifications",
        "hall_ratings",
        "hall_case_events",
        "hall_uploads",
        "hall_cases",
        "hall_item_catalogues",
    ):
        op.drop_table(table)
    op.drop_index("ix_usage_case_number", table_name="usage_records")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("case_number")
