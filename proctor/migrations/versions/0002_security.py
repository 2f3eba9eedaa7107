"""Security: lock-out and TOTP columns on users; OTP codes, login challenges, TOTP recovery codes,
SMS outbox, hash-chained audit log, maintenance windows.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN on both backends (SQLite accepts NOT NULL columns that have a default).
    op.add_column("users", sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("users", sa.Column("locked_until", sa.Double(), nullable=True))
    op.add_column("users", sa.Column("totp_secret", sa.String(), nullable=True))
    op.add_column(
        "users", sa.Column("totp_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column("users", sa.Column("totp_last_step", sa.Integer(), nullable=True))

    op.create_table(
        "otp_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("salt", sa.String(), nullable=False),
        sa.Column("code_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("consumed_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_otp_codes_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_otp_codes"),
        sa.CheckConstraint("purpose IN ('login', 'activate', 'reset')", name="ck_otp_codes_purpose"),
    )
    op.create_index("ix_otp_codes_user_id_purpose", "otp_codes", ["user_id", "purpose"])

    op.create_table(
        "login_challenges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("used_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_login_challenges_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_login_challenges"),
    )
    op.create_index("ix_login_challenges_user_id", "login_challenges", ["user_id"])

    op.create_table(
        "totp_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("used_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_totp_recovery_codes_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_totp_recovery_codes"),
        sa.UniqueConstraint("user_id", "code_hash", name="uq_totp_recovery_codes_user_id_code_hash"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("mobile", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_outbox_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_user_id", "outbox", ["user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=False, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("details", sa.String(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_actor_user_id", "audit_log", ["actor_user_id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])

    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.Double(), nullable=False),
        sa.Column("end_at", sa.Double(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_windows"),
        sa.CheckConstraint("end_at > start_at", name="ck_maintenance_windows_window"),
    )
    op.create_index("ix_maintenance_windows_start_at", "maintenance_windows", ["start_at"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_windows_start_at", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
    op.drop_index("ix_audit_log_action", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_user_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_outbox_user_id", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("totp_recovery_codes")
    op.drop_index("ix_login_challenges_user_id", table_name="login_challenges")
    op.drop_table("login_challenges")
    op.drop_index("ix_otp_codes_user_id_purpose", table_name="otp_codes")
    op.drop_table("otp_codes")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_enabled")
        batch.drop_column("totp_secret")
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
