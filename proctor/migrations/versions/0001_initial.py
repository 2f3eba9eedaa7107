"""Initial schema: users, reference photos/embeddings, web sessions, live sessions, ledger, flags.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("srn", sa.String(), nullable=True),
        sa.Column("username", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("mobile", sa.String(), nullable=True),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=True),
        sa.Column("enrollment_status", sa.String(), server_default=sa.text("'none'"), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("srn", name="uq_users_srn"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint("role IN ('student', 'proctor', 'admin')", name="ck_users_role"),
        sa.CheckConstraint(
            "enrollment_status IN ('none', 'pending', 'approved')", name="ck_users_enrollment_status"
        ),
        sa.CheckConstraint("srn IS NOT NULL OR username IS NOT NULL", name="ck_users_login"),
    )
    op.create_table(
        "reference_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_reference_photos_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_reference_photos"),
    )
    op.create_index("ix_reference_photos_user_id", "reference_photos", ["user_id"])
    op.create_table(
        "reference_embeddings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_reference_embeddings_user_id_users"),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["reference_photos.id"], name="fk_reference_embeddings_photo_id_reference_photos"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reference_embeddings"),
    )
    op.create_index("ix_reference_embeddings_user_id_model", "reference_embeddings", ["user_id", "model"])
    op.create_index("ix_reference_embeddings_photo_id", "reference_embeddings", ["photo_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.Column("user_agent", sa.String(), nullable=True),
        sa.Column("ip", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_web_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.String(), nullable=False),
        sa.Column("module_id", sa.String(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("end_reason", sa.String(), nullable=True),
        sa.Column("samples_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("samples_verified", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_live_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_live_sessions"),
    )
    op.create_index("ix_live_sessions_user_id", "live_sessions", ["user_id"])
    op.create_table(
        "credited_intervals",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.Double(), nullable=False),
        sa.Column("end_at", sa.Double(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["live_sessions.id"], name="fk_credited_intervals_session_id_live_sessions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_credited_intervals"),
        sa.UniqueConstraint("session_id", "seq", name="uq_credited_intervals_session_id_seq"),
    )
    op.create_table(
        "flags",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["live_sessions.id"], name="fk_flags_session_id_live_sessions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_flags"),
        sa.UniqueConstraint("session_id", "kind", "started_at", name="uq_flags_session_id_kind_started_at"),
    )


def downgrade() -> None:
    op.drop_table("flags")
    op.drop_table("credited_intervals")
    op.drop_index("ix_live_sessions_user_id", table_name="live_sessions")
    op.drop_table("live_sessions")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_reference_embeddings_photo_id", table_name="reference_embeddings")
    op.drop_index("ix_reference_embeddings_user_id_model", table_name="reference_embeddings")
    op.drop_table("reference_embeddings")
    op.drop_index("ix_reference_photos_user_id", table_name="reference_photos")
    op.drop_table("reference_photos")
    op.drop_table("users")
