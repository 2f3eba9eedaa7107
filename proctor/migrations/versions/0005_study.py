"""Study: the lesson a session started on and the lesson each credited interval played; electives.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Plain nullable columns: ALTER TABLE ADD COLUMN works in place on both SQLite and PostgreSQL.
    op.add_column("live_sessions", sa.Column("lesson_id", sa.String(), nullable=True))
    op.add_column("credited_intervals", sa.Column("lesson_id", sa.String(), nullable=True))
    op.create_table(
        "elective_choices",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("set_name", sa.String(), nullable=False),
        sa.Column("module_id", sa.String(), nullable=False),
        sa.Column("chosen_at", sa.Double(), nullable=False),
        sa.Column("chosen_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_elective_choices_user_id_users"),
        sa.PrimaryKeyConstraint("user_id", "set_name", name="pk_elective_choices"),
    )


def downgrade() -> None:
    op.drop_table("elective_choices")
    with op.batch_alter_table("credited_intervals") as batch:
        batch.drop_column("lesson_id")
    with op.batch_alter_table("live_sessions") as batch:
        batch.drop_column("lesson_id")
