"""A holder's licences indexed newest first: ``ix_licences_holder`` on (holder id type, holder
id, issued_at) instead of the holder alone (issue 20).

A hall case names an applicant that gave no name from its latest licence in force
(``CaseReads.registered_name``: the holder's, ``ORDER BY issued_at DESC LIMIT 1``). With the
holder alone indexed, the database read and sorted every licence the holder had ever held, on
every submission: a business holding 20,000 licences (a chain's permits, or the benchmark's one
holder) made a complete case five times slower (244 → 47 cases/s on SQLite). Now it reads from
the newest back to the first in force. The holder's pages, which list its licences newest first,
read in index order too.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_licences_holder", table_name="licences")
    op.create_index("ix_licences_holder", "licences", ["holder_id_type", "holder_id", "issued_at"])


def downgrade() -> None:
    op.drop_index("ix_licences_holder", table_name="licences")
    op.create_index("ix_licences_holder", "licences", ["holder_id_type", "holder_id"])
