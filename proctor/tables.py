"""Database tables (SQLAlchemy 2 declarative).

Times are float epoch seconds (UTC by definition) in DOUBLE PRECISION columns: portable between
SQLite and PostgreSQL, exact to well under a microsecond, and directly comparable with `Clock.now()`.

Alembic revisions `0001_initial`, `0002_security`, `0003_review` and `0004_liveness` create exactly
these tables; `tests/test_ledger.py` checks that the migrated schema and this metadata agree, so a
change here needs a new revision.
Alembic revisions `0001_initial`, `0002_security`, `0003_review` and `0005_study` create exactly these
tables; `tests/test_ledger.py` checks that the migrated schema and this metadata agree, so a change here
needs a new revision.
Alembic revisions `0001_initial`, `0002_security`, `0003_review` and `0008_spmt` create exactly these tables;
`tests/test_ledger.py` checks that the migrated schema and this metadata agree, so a change here needs a new revision.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names on every backend, so a later migration can name what it alters.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

OTP_PURPOSES = ("login", "activate", "reset")
ENROLLMENT_STATUSES = ("none", "pending", "approved")
FLAG_REVIEWS = ("open", "acknowledged", "dismissed", "confirmed")

# 64-bit ids where rows accumulate fast (one interval every few seconds per live student); SQLite
# needs plain INTEGER for its rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('student', 'proctor', 'admin')", name="role"),  # proctor.users.Role
        CheckConstraint("enrollment_status IN ('none', 'pending', 'approved')", name="enrollment_status"),
        CheckConstraint("srn IS NOT NULL OR username IS NOT NULL", name="login"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    srn: Mapped[str | None] = mapped_column(String, unique=True)
    username: Mapped[str | None] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)
    mobile: Mapped[str | None] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    password_hash: Mapped[str | None] = mapped_column(String)
    enrollment_status: Mapped[str] = mapped_column(String, server_default=text("'none'"))
    created_at: Mapped[float] = mapped_column(Double)
    # Lock-out (0002): consecutive failed password/OTP/TOTP attempts, and until when logins are refused.
    failed_logins: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[float | None] = mapped_column(Double)
    # TOTP second factor (0002): base32 secret (set by setup, live once enabled) and the last accepted
    # 30 s time step, so a code is never accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(String)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    time_zone: Mapped[str | None] = mapped_column(String)  # IANA name; None: the server's `time_zone`


class ReferencePhotoRow(Base):
    """The enrolment photo itself, kept so a model change can re-embed it."""

    __tablename__ = "reference_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    image: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Double)


class PhotoIdRow(Base):
    """The last reference-photo id ever handed out (one row). Photo ids come from here, never from
    SQLite's max(rowid) + 1: a rejected enrollment's deleted photos would otherwise give their ids to
    the next photos, and an approval names the ids of the photos the proctor saw (migration 0009)."""

    __tablename__ = "photo_ids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    last_id: Mapped[int] = mapped_column(Integer)


class ReferenceEmbeddingRow(Base):
    """One face embedding: `dim` float32 values, little-endian, as raw bytes."""

    __tablename__ = "reference_embeddings"
    __table_args__ = (Index("ix_reference_embeddings_user_id_model", "user_id", "model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    photo_id: Mapped[int] = mapped_column(ForeignKey("reference_photos.id"), index=True)
    model: Mapped[str] = mapped_column(String)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Double)


class WebSessionRow(Base):
    """A login. `id` is the sha256 hex of the cookie token; the raw token is never stored."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float | None] = mapped_column(Double)  # None: browser-session cookie
    revoked_at: Mapped[float | None] = mapped_column(Double)
    remember: Mapped[bool] = mapped_column(Boolean)
    user_agent: Mapped[str | None] = mapped_column(String)
    ip: Mapped[str | None] = mapped_column(String)


class LiveSessionRow(Base):
    """One webcam stream of one student on one topic."""

    __tablename__ = "live_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    topic_id: Mapped[str] = mapped_column(String)
    module_id: Mapped[str] = mapped_column(String)
    started_at: Mapped[float] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    end_reason: Mapped[str | None] = mapped_column(String)
    samples_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    samples_verified: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    state: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)
    lesson_id: Mapped[str | None] = mapped_column(String)  # 0005: the lesson it started on (lesson mode)


class CreditedIntervalRow(Base):
    """Append-only: no code path updates or deletes these rows (a proctor voids time by an adjustment)."""

    __tablename__ = "credited_intervals"
    __table_args__ = (
        UniqueConstraint("session_id", "seq"),
        Index("ix_credited_intervals_end_at", "end_at"),  # 0003: the export's date range
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    seq: Mapped[int] = mapped_column(Integer)
    start_at: Mapped[float] = mapped_column(Double)
    end_at: Mapped[float] = mapped_column(Double)
    seconds: Mapped[float] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    lesson_id: Mapped[str | None] = mapped_column(String)  # 0005: the lesson playing throughout; None: topic mode


class FlagRow(Base):
    __tablename__ = "flags"
    __table_args__ = (
        UniqueConstraint("session_id", "kind", "started_at"),
        CheckConstraint("review IN ('open', 'acknowledged', 'dismissed', 'confirmed')", name="review"),
        Index("ix_flags_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    kind: Mapped[str] = mapped_column(String)
    started_at: Mapped[float] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    # Review by a proctor (0003). reviewed_by has no FK, like the audit log's actor.
    review: Mapped[str] = mapped_column(String, server_default=text("'open'"))
    note: Mapped[str | None] = mapped_column(String)
    reviewed_by: Mapped[int | None] = mapped_column(Integer)
    reviewed_at: Mapped[float | None] = mapped_column(Double)


class SampleRow(Base):
    """One verifier sample of a live session (0003), for the proctor's timeline; no audit row."""

    __tablename__ = "samples"
    __table_args__ = (Index("ix_samples_session_id_at", "session_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    at: Mapped[float] = mapped_column(Double)
    reason: Mapped[str] = mapped_column(String)
    score: Mapped[float | None] = mapped_column(Double)


class AdjustmentRow(Base):
    """Credited seconds voided by a proctor (0003). Append-only: progress is intervals minus these.

    `flag_id` is unique, so a confirmed flag voids at most once; [start_at, end_at] is the span the
    adjustment covers (`seconds` is the credit inside it not already voided by an earlier adjustment).
    """

    __tablename__ = "adjustments"
    __table_args__ = (CheckConstraint("seconds > 0", name="seconds"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("flags.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # the student
    topic_id: Mapped[str] = mapped_column(String)
    module_id: Mapped[str] = mapped_column(String)
    seconds: Mapped[float] = mapped_column(Double)
    start_at: Mapped[float] = mapped_column(Double)
    end_at: Mapped[float] = mapped_column(Double)
    note: Mapped[str | None] = mapped_column(String)
    by_user_id: Mapped[int | None] = mapped_column(Integer)  # the proctor; no FK, like the audit log
    at: Mapped[float] = mapped_column(Double)


class SnapshotRow(Base):
    """The JPEG frame that raised a flag (0003); deleted for good after the retention period."""

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id"), unique=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Double, index=True)


class OtpCodeRow(Base):
    """A one-time code sent by SMS; only HMAC-SHA256(salt, code) is stored."""

    __tablename__ = "otp_codes"
    __table_args__ = (
        CheckConstraint("purpose IN ('login', 'activate', 'reset')", name="purpose"),
        Index("ix_otp_codes_user_id_purpose", "user_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String)
    salt: Mapped[str] = mapped_column(String)
    code_hash: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    consumed_at: Mapped[float | None] = mapped_column(Double)  # used, or superseded by a newer code


class LoginChallengeRow(Base):
    """First factor passed, TOTP pending. `id` is the sha256 hex of the token given to the client."""

    __tablename__ = "login_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    via: Mapped[str] = mapped_column(String)  # the first factor: password or otp
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double)
    used_at: Mapped[float | None] = mapped_column(Double)


class TotpRecoveryCodeRow(Base):
    """A single-use TOTP recovery code, stored as the sha256 of its normalized form."""

    __tablename__ = "totp_recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    code_hash: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)
    used_at: Mapped[float | None] = mapped_column(Double)


class OutboxRow(Base):
    """An SMS as the default sender stores it (no gateway): read back by `proctor outbox`."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    mobile: Mapped[str] = mapped_column(String)
    text: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)


class AuditRow(Base):
    """Append-only, hash-chained: hash = sha256(prev_hash + canonical JSON of the row's content).

    `id` is assigned by the writer (previous id + 1, under the chain lock), never by a sequence, so
    a gap means a deleted row rather than a rolled-back insert.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(Double)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: outlives anything
    action: Mapped[str] = mapped_column(String, index=True)
    subject: Mapped[str | None] = mapped_column(String)
    details: Mapped[str] = mapped_column(String)  # canonical JSON text, exactly as hashed
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class MaintenanceWindowRow(Base):
    __tablename__ = "maintenance_windows"
    __table_args__ = (CheckConstraint("end_at > start_at", name="window"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_at: Mapped[float] = mapped_column(Double, index=True)
    end_at: Mapped[float] = mapped_column(Double)
    message: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)


class ElectiveChoiceRow(Base):
    """A student's module in an elective set (0005); `chosen_by` is the admin who changed it, if one did."""

    __tablename__ = "elective_choices"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    set_name: Mapped[str] = mapped_column(String, primary_key=True)
    module_id: Mapped[str] = mapped_column(String)
    chosen_at: Mapped[float] = mapped_column(Double)
    chosen_by: Mapped[int | None] = mapped_column(Integer)  # no FK, like the audit log's actor
class CreditAdjustmentRow(Base):
    """An admin's explicit correction of a module's credit (0008): signed seconds, with the reason.

    Append-only; a wrong adjustment is undone by another one. Unlike `adjustments` (time voided
    inside one session by a confirmed flag), it belongs to no session.
    """

    __tablename__ = "credit_adjustments"
    __table_args__ = (CheckConstraint("seconds <> 0", name="seconds"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # the student
    module_id: Mapped[str] = mapped_column(String)
    seconds: Mapped[float] = mapped_column(Double)  # positive grants, negative removes
    reason: Mapped[str] = mapped_column(String)
    by_user_id: Mapped[int | None] = mapped_column(Integer)  # the admin; None from the CLI; no FK
    at: Mapped[float] = mapped_column(Double)


SPMT_BOOKING_STATUSES = ("awaiting_payment", "paid", "used", "cancelled", "slot_cancelled", "expired")
PAYMENT_STATUSES = ("created", "paid", "refunded")


class SpmtSlotRow(Base):
    """A test sitting (0008): `capacity` seats from `start_at` (UTC epoch) for `minutes`."""

    __tablename__ = "spmt_slots"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity"),
        CheckConstraint("minutes > 0", name="minutes"),
        Index("ix_spmt_slots_module_id_start_at", "module_id", "start_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    module_id: Mapped[str] = mapped_column(String)
    start_at: Mapped[float] = mapped_column(Double)
    minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Double)
    cancelled_at: Mapped[float | None] = mapped_column(Double)


class SpmtBookingRow(Base):
    """A student's seat in a slot (0008); it holds the seat while paid, or unpaid until `hold_until`."""

    __tablename__ = "spmt_bookings"
    __table_args__ = (
        CheckConstraint(
            "status IN ('awaiting_payment', 'paid', 'used', 'cancelled', 'slot_cancelled', 'expired')", name="status"
        ),
        Index("ix_spmt_bookings_user_id_module_id", "user_id", "module_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    module_id: Mapped[str] = mapped_column(String)
    slot_id: Mapped[int] = mapped_column(ForeignKey("spmt_slots.id"), index=True)
    status: Mapped[str] = mapped_column(String)
    fee_paise: Mapped[int] = mapped_column(Integer)
    hold_until: Mapped[float] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)


class PaymentRow(Base):
    """One order for one booking (0008); amounts are integer paise. Settled once per payment id."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("status IN ('created', 'paid', 'refunded')", name="status"),
        CheckConstraint("amount_paise > 0", name="amount"),
    )

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    booking_id: Mapped[str] = mapped_column(ForeignKey("spmt_bookings.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    provider: Mapped[str] = mapped_column(String)
    amount_paise: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String)
    payment_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Double)
    paid_at: Mapped[float | None] = mapped_column(Double)
    refunded_at: Mapped[float | None] = mapped_column(Double)


class PaymentEventRow(Base):
    """A gateway webhook event already applied (0008): a second delivery of its id is a replay."""

    __tablename__ = "payment_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    payment_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[float] = mapped_column(Double)


class SpmtQuestionRow(Base):
    """A multiple-choice question of a module's bank (0008); `--replace` retires, never deletes."""

    __tablename__ = "spmt_questions"
    __table_args__ = (Index("ix_spmt_questions_module_id_retired", "module_id", "retired"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    module_id: Mapped[str] = mapped_column(String)
    text: Mapped[str] = mapped_column(String)
    choices: Mapped[str] = mapped_column(String)  # JSON list of strings
    answer: Mapped[int] = mapped_column(Integer)  # index into choices
    retired: Mapped[bool] = mapped_column(Boolean, server_default=false())  # `text` is a column here
    created_at: Mapped[float] = mapped_column(Double)


class SpmtAttemptRow(Base):
    """One sitting of a booking (0008); scored at submit or when time runs out."""

    __tablename__ = "spmt_attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    booking_id: Mapped[str] = mapped_column(ForeignKey("spmt_bookings.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    module_id: Mapped[str] = mapped_column(String)
    started_at: Mapped[float] = mapped_column(Double)
    ends_at: Mapped[float] = mapped_column(Double)
    submitted_at: Mapped[float | None] = mapped_column(Double)
    submit_reason: Mapped[str | None] = mapped_column(String)  # submitted or time_up
    correct: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    score_pct: Mapped[float | None] = mapped_column(Double)
    passed: Mapped[bool | None] = mapped_column(Boolean)


class SpmtAttemptQuestionRow(Base):
    """A question as one attempt shows it (0008): its place, the shuffled choice order, the answer given."""

    __tablename__ = "spmt_attempt_questions"

    attempt_id: Mapped[str] = mapped_column(ForeignKey("spmt_attempts.id"), primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("spmt_questions.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    choice_order: Mapped[str] = mapped_column(String)  # JSON list: shown index -> bank choice index
    choice: Mapped[int | None] = mapped_column(Integer)  # shown index the student picked
    answered_at: Mapped[float | None] = mapped_column(Double)


metadata = Base.metadata

# Core Table objects, typed as such (declarative types `__table__` as a plain FromClause).
users = cast(Table, UserRow.__table__)
reference_photos = cast(Table, ReferencePhotoRow.__table__)
photo_ids = cast(Table, PhotoIdRow.__table__)
reference_embeddings = cast(Table, ReferenceEmbeddingRow.__table__)
web_sessions = cast(Table, WebSessionRow.__table__)
live_sessions = cast(Table, LiveSessionRow.__table__)
credited_intervals = cast(Table, CreditedIntervalRow.__table__)
flags = cast(Table, FlagRow.__table__)
samples = cast(Table, SampleRow.__table__)
adjustments = cast(Table, AdjustmentRow.__table__)
snapshots = cast(Table, SnapshotRow.__table__)
otp_codes = cast(Table, OtpCodeRow.__table__)
login_challenges = cast(Table, LoginChallengeRow.__table__)
totp_recovery_codes = cast(Table, TotpRecoveryCodeRow.__table__)
outbox = cast(Table, OutboxRow.__table__)
audit_log = cast(Table, AuditRow.__table__)
maintenance_windows = cast(Table, MaintenanceWindowRow.__table__)


# -- liveness (0004) ------------------------------------------------------------------------------


class ProvisionalIntervalRow(Base):
    """Credit earned since the last passed liveness challenge (0004). Append-only.

    A passed challenge copies the pending rows into `credited_intervals` (same seq); a failed one
    writes a `credit_voids` row covering them. Progress reads `credited_intervals` only.
    """

    __tablename__ = "provisional_intervals"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    seq: Mapped[int] = mapped_column(Integer)
    start_at: Mapped[float] = mapped_column(Double)
    end_at: Mapped[float] = mapped_column(Double)
    seconds: Mapped[float] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)


class CreditVoidRow(Base):
    """Provisional credit given up (0004): every provisional interval of the session with seq ≤ up_to_seq
    not already confirmed. Append-only."""

    __tablename__ = "credit_voids"
    __table_args__ = (UniqueConstraint("session_id", "up_to_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    up_to_seq: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Double)
    reason: Mapped[str] = mapped_column(String)
    at: Mapped[float] = mapped_column(Double)


class LivenessChallengeRow(Base):
    """One head-turn challenge and its result (0004), for the proctor's timeline."""

    __tablename__ = "liveness_challenges"
    __table_args__ = (UniqueConstraint("challenge_id"), Index("ix_liveness_challenges_session_id", "session_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    challenge_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String)
    attempt: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[float] = mapped_column(Double)
    deadline: Mapped[float] = mapped_column(Double)
    baseline: Mapped[float] = mapped_column(Double)
    passed: Mapped[bool | None] = mapped_column(Boolean)  # None while open
    resolved_at: Mapped[float | None] = mapped_column(Double)
    yaw: Mapped[float | None] = mapped_column(Double)  # yaw ratio of the deciding sample


provisional_intervals = cast(Table, ProvisionalIntervalRow.__table__)
credit_voids = cast(Table, CreditVoidRow.__table__)
liveness_challenges = cast(Table, LivenessChallengeRow.__table__)
elective_choices = cast(Table, ElectiveChoiceRow.__table__)
credit_adjustments = cast(Table, CreditAdjustmentRow.__table__)
spmt_slots = cast(Table, SpmtSlotRow.__table__)
spmt_bookings = cast(Table, SpmtBookingRow.__table__)
payments = cast(Table, PaymentRow.__table__)
payment_events = cast(Table, PaymentEventRow.__table__)
spmt_questions = cast(Table, SpmtQuestionRow.__table__)
spmt_attempts = cast(Table, SpmtAttemptRow.__table__)
spmt_attempt_questions = cast(Table, SpmtAttemptQuestionRow.__table__)
