"""SPMT: slots, bookings, payments, question banks, attempts; explicit credit adjustments.

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "credit_adjustments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.String(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_credit_adjustments_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_credit_adjustments"),
        sa.CheckConstraint("seconds <> 0", name="seconds"),
    )
    op.create_index("ix_credit_adjustments_user_id", "credit_adjustments", ["user_id"])

    op.create_table(
        "spmt_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.String(), nullable=False),
        sa.Column("start_at", sa.Double(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("cancelled_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_spmt_slots"),
        sa.CheckConstraint("capacity > 0", name="capacity"),
        sa.CheckConstraint("minutes > 0", name="minutes"),
    )
    op.create_index("ix_spmt_slots_module_id_start_at", "spmt_slots", ["module_id", "start_at"])

    op.create_table(
        "spmt_bookings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.String(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("fee_paise", sa.Integer(), nullable=False),
        sa.Column("hold_until", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_spmt_bookings_user_id_users"),
        sa.ForeignKeyConstraint(["slot_id"], ["spmt_slots.id"], name="fk_spmt_bookings_slot_id_spmt_slots"),
        sa.PrimaryKeyConstraint("id", name="pk_spmt_bookings"),
        sa.CheckConstraint(
            "status IN ('awaiting_payment', 'paid', 'used', 'cancelled', 'slot_cancelled', 'expired')", name="status"
        ),
    )
    op.create_index("ix_spmt_bookings_user_id_module_id", "spmt_bookings", ["user_id", "module_id"])
    op.create_index("ix_spmt_bookings_slot_id", "spmt_bookings", ["slot_id"])

    op.create_table(
        "payments",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("amount_paise", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("paid_at", sa.Double(), nullable=True),
        sa.Column("refunded_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["booking_id"], ["spmt_bookings.id"], name="fk_payments_booking_id_spmt_bookings"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_payments_user_id_users"),
        sa.PrimaryKeyConstraint("order_id", name="pk_payments"),
        sa.UniqueConstraint("payment_id", name="uq_payments_payment_id"),
        sa.CheckConstraint("status IN ('created', 'paid', 'refunded')", name="status"),
        sa.CheckConstraint("amount_paise > 0", name="amount"),
    )
    op.create_index("ix_payments_booking_id", "payments", ["booking_id"])
    op.create_index("ix_payments_user_id", "payments", ["user_id"])

    op.create_table(
        "payment_events",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_payment_events"),
    )

    op.create_table(
        "spmt_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("choices", sa.String(), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=False),
        sa.Column("retired", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spmt_questions"),
    )
    op.create_index("ix_spmt_questions_module_id_retired", "spmt_questions", ["module_id", "retired"])

    op.create_table(
        "spmt_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.String(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("ends_at", sa.Double(), nullable=False),
        sa.Column("submitted_at", sa.Double(), nullable=True),
        sa.Column("submit_reason", sa.String(), nullable=True),
        sa.Column("correct", sa.Integer(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("score_pct", sa.Double(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["booking_id"], ["spmt_bookings.id"], name="fk_spmt_attempts_booking_id_spmt_bookings"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_spmt_attempts_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_spmt_attempts"),
        sa.UniqueConstraint("booking_id", name="uq_spmt_attempts_booking_id"),
    )
    op.create_index("ix_spmt_attempts_user_id", "spmt_attempts", ["user_id"])

    op.create_table(
        "spmt_attempt_questions",
        sa.Column("attempt_id", sa.String(length=36), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("choice_order", sa.String(), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["spmt_attempts.id"], name="fk_spmt_attempt_questions_attempt_id_spmt_attempts"
        ),
        sa.ForeignKeyConstraint(
            ["question_id"], ["spmt_questions.id"], name="fk_spmt_attempt_questions_question_id_spmt_questions"
        ),
        sa.PrimaryKeyConstraint("attempt_id", "question_id", name="pk_spmt_attempt_questions"),
    )


def downgrade() -> None:
    op.drop_table("spmt_attempt_questions")
    op.drop_index("ix_spmt_attempts_user_id", table_name="spmt_attempts")
    op.drop_table("spmt_attempts")
    op.drop_index("ix_spmt_questions_module_id_retired", table_name="spmt_questions")
    op.drop_table("spmt_questions")
    op.drop_table("payment_events")
    op.drop_index("ix_payments_user_id", table_name="payments")
    op.drop_index("ix_payments_booking_id", table_name="payments")
    op.drop_table("payments")
    op.drop_index("ix_spmt_bookings_slot_id", table_name="spmt_bookings")
    op.drop_index("ix_spmt_bookings_user_id_module_id", table_name="spmt_bookings")
    op.drop_table("spmt_bookings")
    op.drop_index("ix_spmt_slots_module_id_start_at", table_name="spmt_slots")
    op.drop_table("spmt_slots")
    op.drop_index("ix_credit_adjustments_user_id", table_name="credit_adjustments")
    op.drop_table("credit_adjustments")
