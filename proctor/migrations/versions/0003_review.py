"""Review: flag review columns, sample timeline, credit adjustments, flag snapshots; export index.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Constraint names below are the bare names: the naming convention of proctor.tables' metadata
# (which Alembic applies) prefixes them, e.g. "review" -> "ck_flags_review".


def upgrade() -> None:
    # SQLite cannot add a CHECK constraint in place: batch mode rebuilds `flags` (copying its rows)
    # before anything references it; PostgreSQL gets plain ALTER TABLE statements.
    with op.batch_alter_table("flags") as batch:
        batch.add_column(sa.Column("review", sa.String(), server_default=sa.text("'open'"), nullable=False))
        batch.add_column(sa.Column("note", sa.String(), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.Double(), nullable=True))
        batch.create_check_constraint("review", "review IN ('open', 'acknowledged', 'dismissed', 'confirmed')")
    op.create_index("ix_flags_started_at", "flags", ["started_at"])
    op.create_index("ix_credited_intervals_end_at", "credited_intervals", ["end_at"])

    op.create_table(
        "samples",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["live_sessions.id"], name="fk_samples_session_id_live_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_samples"),
    )
    op.create_index("ix_samples_session_id_at", "samples", ["session_id", "at"])

    op.create_table(
        "adjustments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("flag_id", BigId, nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.String(), nullable=False),
        sa.Column("module_id", sa.String(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("start_at", sa.Double(), nullable=False),
        sa.Column("end_at", sa.Double(), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["live_sessions.id"], name="fk_adjustments_session_id_live_sessions"),
        sa.ForeignKeyConstraint(["flag_id"], ["flags.id"], name="fk_adjustments_flag_id_flags"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_adjustments_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_adjustments"),
        sa.UniqueConstraint("flag_id", name="uq_adjustments_flag_id"),
        sa.CheckConstraint("seconds > 0", name="seconds"),
    )
    op.create_index("ix_adjustments_session_id", "adjustments", ["session_id"])
    op.create_index("ix_adjustments_user_id", "adjustments", ["user_id"])

    op.create_table(
        "snapshots",
        sa.Column("id", BigId, nullable=False),
        sa.Column("flag_id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["flag_id"], ["flags.id"], name="fk_snapshots_flag_id_flags"),
        sa.ForeignKeyConstraint(["session_id"], ["live_sessions.id"], name="fk_snapshots_session_id_live_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
        sa.UniqueConstraint("flag_id", name="uq_snapshots_flag_id"),
    )
    op.create_index("ix_snapshots_created_at", "snapshots", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_snapshots_created_at", table_name="snapshots")
    op.drop_table("snapshots")
    op.drop_index("ix_adjustments_user_id", table_name="adjustments")
    op.drop_index("ix_adjustments_session_id", table_name="adjustments")
    op.drop_table("adjustments")
    op.drop_index("ix_samples_session_id_at", table_name="samples")
    op.drop_table("samples")
    op.drop_index("ix_credited_intervals_end_at", table_name="credited_intervals")
    op.drop_index("ix_flags_started_at", table_name="flags")
    with op.batch_alter_table("flags") as batch:
        batch.drop_constraint("review", type_="check")
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
        batch.drop_column("note")
        batch.drop_column("review")
