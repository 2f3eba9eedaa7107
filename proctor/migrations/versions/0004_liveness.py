"""Liveness: provisional credit, credit voids, head-turn challenges.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "provisional_intervals",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.Double(), nullable=False),
        sa.Column("end_at", sa.Double(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["live_sessions.id"],
                                name="fk_provisional_intervals_session_id_live_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_provisional_intervals"),
        sa.UniqueConstraint("session_id", "seq", name="uq_provisional_intervals_session_id_seq"),
    )
    op.create_table(
        "credit_voids",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("up_to_seq", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["live_sessions.id"], name="fk_credit_voids_session_id_live_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_credit_voids"),
        sa.UniqueConstraint("session_id", "up_to_seq", name="uq_credit_voids_session_id_up_to_seq"),
    )
    op.create_table(
        "liveness_challenges",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("challenge_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.Double(), nullable=False),
        sa.Column("deadline", sa.Double(), nullable=False),
        sa.Column("baseline", sa.Double(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("yaw", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["live_sessions.id"],
                                name="fk_liveness_challenges_session_id_live_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_liveness_challenges"),
        sa.UniqueConstraint("challenge_id", name="uq_liveness_challenges_challenge_id"),
    )
    op.create_index("ix_liveness_challenges_session_id", "liveness_challenges", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_liveness_challenges_session_id", table_name="liveness_challenges")
    op.drop_table("liveness_challenges")
    op.drop_table("credit_voids")
    op.drop_table("provisional_intervals")
