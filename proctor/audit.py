"""Append-only, hash-chained audit log.

Each row's `hash` is sha256(prev_hash + canonical JSON of its content: id, at, actor_user_id, action,
subject, details), and `prev_hash` is the previous row's hash (`GENESIS` for row 1). Ids are assigned
by the writer as previous id + 1 under the chain lock, so the chain is gap-free by construction and
`verify_chain` can tell an edited row (hash mismatch), a deleted one (id gap / prev_hash mismatch) and
a reordered one (its hash no longer matches its id and position).

Appends are serialized: `write_transaction` opens a transaction that already holds the chain lock
(SQLite: `BEGIN IMMEDIATE`, the database write lock; PostgreSQL: `pg_advisory_xact_lock`), and
`append` takes the PostgreSQL lock again (re-entrant) in case the caller did not. Two writers that
still raced could at worst collide on the primary key (one fails), never fork the chain.

Limits: an attacker who can write the database can rewrite the whole chain consistently, or cut
its tail; publish `head()` somewhere else (a log line, a daily e-mail) to anchor it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor.clock import Clock
from proctor.db import Database
from proctor.tables import audit_log as _AUDIT

GENESIS = "0" * 64
"""prev_hash of the first row."""

# pg_advisory_xact_lock key for the chain ("audt"); distinct from the migration lock in db.py.
_PG_AUDIT_LOCK = 0x61756474

ACTIONS = frozenset(
    {
        "login_ok",
        "login_failed",
        "lockout",
        "unlocked",
        "otp_sent",
        "password_changed",
        "password_reset",
        "activated",
        "web_session_revoked",
        "session_start",
        "elective_chosen",  # proctor.study: a student or an admin chose an elective module
        "session_end",
        "credit",
        "flag_raised",
        "flag_ended",
        "totp_enabled",
        "totp_disabled",
        "snapshot_viewed",
        # 0003: flag review, voided credit, enrollment approvals, reference photo views
        "flag_reviewed",
        "credit_voided",
        "credit_restored",
        "enrollment_approved",
        "enrollment_rejected",
        "photo_viewed",
        # 0008: explicit credit adjustments; SPMT slots, bookings, payments, question banks, attempts
        "credit_adjusted",
        "spmt_slot_added",
        "spmt_slot_cancelled",
        "spmt_booked",
        "spmt_booking_cancelled",
        "spmt_rescheduled",
        "payment_settled",
        "payment_refunded",
        "spmt_questions_imported",
        "spmt_attempt_started",
        "spmt_attempt_scored",
    }
)

_BATCH = 1000


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor_user_id: int | None
    action: str
    subject: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    rows: int  # rows checked (up to and including the first bad one)
    first_bad_id: int | None
    problem: str | None


def canonical_json(value: Any) -> str:
    """Sorted keys, no blanks, ASCII only, no NaN: the same text for the same content everywhere."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def row_hash(
    prev_hash: str,
    *,
    id: int,
    at: float,
    actor_user_id: int | None,
    action: str,
    subject: str | None,
    details: str,
) -> str:
    """sha256 hex of prev_hash + the canonical JSON of a row's content (`details` as stored text)."""
    content = canonical_json(
        {
            "id": id,
            "at": at,
            "actor_user_id": actor_user_id,
            "action": action,
            "subject": subject,
            "details": details,
        }
    )
    return hashlib.sha256((prev_hash + content).encode("ascii")).hexdigest()


@asynccontextmanager
async def write_transaction(db: Database) -> AsyncIterator[AsyncConnection]:
    """A transaction that may append to the audit chain: it holds the chain lock from the start.

    SQLite: `BEGIN IMMEDIATE` takes the database write lock before the first read (as
    `Database.migrate` does), so the chain head read later is still the head at commit.
    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback.
    """
    async with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")  # must be the transaction's first statement
        elif conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        yield conn


async def append(
    conn: AsyncConnection,
    *,
    at: float,
    action: str,
    actor: int | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one row inside the caller's transaction (opened with `write_transaction`); its id."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if not math.isfinite(at):
        raise ValueError(f"at must be finite, got {at}")
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    details_text = canonical_json(dict(details or {}))
    head = (await conn.execute(select(_AUDIT.c.id, _AUDIT.c.hash).order_by(_AUDIT.c.id.desc()).limit(1))).first()
    prev_id, prev_hash = (0, GENESIS) if head is None else (int(head.id), str(head.hash))
    row_id = prev_id + 1
    at = float(at)
    digest = row_hash(
        prev_hash, id=row_id, at=at, actor_user_id=actor, action=action, subject=subject, details=details_text
    )
    await conn.execute(
        _AUDIT.insert().values(
            id=row_id,
            at=at,
            actor_user_id=actor,
            action=action,
            subject=subject,
            details=details_text,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    return row_id


def _entry(r: Any) -> AuditEntry:
    try:
        details = json.loads(r.details)
    except ValueError:
        details = {"_unparsable": r.details}
    return AuditEntry(
        id=int(r.id),
        at=float(r.at),
        actor_user_id=r.actor_user_id,
        action=r.action,
        subject=r.subject,
        details=details if isinstance(details, dict) else {"_value": details},
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


class Audit:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record(
        self,
        action: str,
        actor: int | None,
        subject: str | None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Append one row in its own transaction, at `clock.now()`; returns its id."""
        async with write_transaction(self._db) as conn:
            return await append(
                conn, at=self._clock.now(), action=action, actor=actor, subject=subject, details=details
            )

    async def recent(
        self, limit: int = 100, *, actor: int | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """Newest first, optionally only one actor's or one action's rows."""
        query = select(_AUDIT).order_by(_AUDIT.c.id.desc()).limit(max(1, min(limit, 10_000)))
        if actor is not None:
            query = query.where(_AUDIT.c.actor_user_id == actor)
        if action is not None:
            query = query.where(_AUDIT.c.action == action)
        async with self._db.engine.connect() as conn:
            return [_entry(r) for r in (await conn.execute(query)).all()]

    async def head(self) -> tuple[int, str] | None:
        """(id, hash) of the newest row, to anchor the chain outside the database."""
        async with self._db.engine.connect() as conn:
            r = (await conn.execute(select(_AUDIT.c.id, _AUDIT.c.hash).order_by(_AUDIT.c.id.desc()).limit(1))).first()
        return None if r is None else (int(r.id), str(r.hash))


async def verify_chain(db: Database) -> AuditCheck:
    """Walk the chain in id order; report the first row that breaks it."""
    expected_id, prev_hash, checked = 1, GENESIS, 0
    async with db.engine.connect() as conn:
        while True:
            rows = (
                await conn.execute(
                    select(_AUDIT).where(_AUDIT.c.id >= expected_id).order_by(_AUDIT.c.id).limit(_BATCH)
                )
            ).all()
            if not rows:
                return AuditCheck(ok=True, rows=checked, first_bad_id=None, problem=None)
            for r in rows:
                checked += 1
                row_id = int(r.id)
                if row_id != expected_id:
                    missing = f"{expected_id}" if row_id == expected_id + 1 else f"{expected_id}..{row_id - 1}"
                    return AuditCheck(False, checked, row_id, f"row(s) {missing} missing before row {row_id}")
                if not hmac.compare_digest(str(r.prev_hash), prev_hash):
                    return AuditCheck(
                        False, checked, row_id, f"row {row_id}: prev_hash does not match the previous row's hash"
                    )
                digest = row_hash(
                    prev_hash,
                    id=row_id,
                    at=float(r.at),
                    actor_user_id=r.actor_user_id,
                    action=r.action,
                    subject=r.subject,
                    details=r.details,
                )
                if not hmac.compare_digest(str(r.hash), digest):
                    return AuditCheck(False, checked, row_id, f"row {row_id}: content does not match its hash")
                prev_hash, expected_id = digest, row_id + 1
