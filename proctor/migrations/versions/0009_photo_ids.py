"""Photo ids are never reused: a one-row high-water mark that hands them out.

SQLite gives a new row max(rowid) + 1, so after a rejected enrollment deletes the newest photos the
next enrollment's photos would take their ids, and a stale approval naming those ids would approve
photos no proctor saw (issue 10, item 8). Recreating the table with AUTOINCREMENT is not possible in
the one transaction `Database.migrate` runs (reference_embeddings points at it, and SQLite checks
foreign keys at commit), so the ids come from this row instead, on both databases.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "photo_ids",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_photo_ids"),
    )
    op.execute("INSERT INTO photo_ids (id, last_id) SELECT 1, COALESCE(MAX(id), 0) FROM reference_photos")


def downgrade() -> None:
    op.drop_table("photo_ids")
