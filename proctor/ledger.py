"""The verified-time ledger: its writes (sessions, credited intervals, samples, flags).

Credited time is only ever the sum of append-only `credited_intervals` rows; totals per topic or
module are derived by query, never stored. Every write is one short transaction committed at once,
so a kill -9 loses at most the interval in flight, and a retried append of the same
`(session_id, seq)` is a no-op, so retries never double count.

Session start/end, every credited interval and every flag raise/end write their audit row
(`proctor.audit`) in the same transaction as the change itself, at the event's own time; a retried
no-op writes none.

A proctor who confirms a flag voids the credit inside it through an `adjustments` row
(`proctor.review`): intervals are never changed, and progress (`proctor.progress`) is the intervals
minus the adjustments, never below zero per topic. Samples (`record_sample`) are one plain insert
each, for the proctor's timeline (`proctor.session_records`): no audit row.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.db import Database
from proctor.tables import credited_intervals as _CI
from proctor.tables import flags as _FL
from proctor.tables import live_sessions as _LS
from proctor.tables import samples as _SAMPLES


class UnknownSession(LookupError):
    """No live session with that id."""


class SessionEnded(RuntimeError):
    """The session has ended (here, on another node, or by a proctor): it earns nothing more.

    In a cluster a node may go on sampling a session that another node ended or took over; the
    ledger is the one place that knows, so it refuses, and the node stops streaming.
    """

    def __init__(self, session_id: str, ended_at: float, reason: str) -> None:
        super().__init__(f"session {session_id} ended at {ended_at} ({reason})")
        self.session_id = session_id
        self.ended_at = ended_at
        self.reason = reason


@dataclass(frozen=True)
class SessionState:
    """A live session's state as the dashboard and GET /api/sessions/{id} read it."""

    state: str  # verified | unverified
    reason: str  # the latest sample's reason
    samples_total: int
    samples_verified: int


def _finite(name: str, x: float) -> float:
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return float(x)


class Ledger:
    """The ledger's writes: each one short transaction with its audit row; retries are no-ops."""

    def __init__(self, db: Database) -> None:
        # No clock: every write is stamped with its event's own time.
        self._db = db

    def _insert_ignoring_conflict(self, table: Any, values: dict[str, Any], keys: list[str]) -> Any:
        """INSERT … ON CONFLICT (keys) DO NOTHING RETURNING id (both dialects support it)."""
        if self._db.dialect == "postgresql":
            pg = postgresql.insert(table).values(**values)
            return pg.on_conflict_do_nothing(index_elements=keys).returning(table.c.id)
        lite = sqlite.insert(table).values(**values)
        return lite.on_conflict_do_nothing(index_elements=keys).returning(table.c.id)

    # -- sessions ---------------------------------------------------------------------------------

    async def start_session(
        self,
        user_id: int,
        topic_id: str,
        module_id: str,
        at: float,
        *,
        state: str = "unverified",
        reason: str = "not_started",
        lesson_id: str | None = None,
    ) -> str:
        """Open a live session and return its id (a uuid4 string)."""
        session_id = str(uuid.uuid4())
        at = _finite("at", at)
        async with audit.write_transaction(self._db) as conn:
            await conn.execute(
                _LS.insert().values(
                    id=session_id,
                    user_id=user_id,
                    topic_id=topic_id,
                    module_id=module_id,
                    started_at=at,
                    samples_total=0,
                    samples_verified=0,
                    state=state,
                    reason=reason,
                    lesson_id=lesson_id,
                )
            )
            details: dict[str, Any] = {"topic_id": topic_id, "module_id": module_id}
            if lesson_id is not None:
                details["lesson_id"] = lesson_id
            await audit.append(
                conn,
                at=at,
                action="session_start",
                actor=user_id,
                subject=f"session:{session_id}",
                details=details,
            )
        return session_id

    async def _end_where(self, where: ColumnElement[bool], at: float, reason: str,
                         by: int | None = None) -> list[str]:
        at = _finite("at", at)
        async with audit.write_transaction(self._db) as conn:
            result = await conn.execute(
                update(_LS)
                .where(where, _LS.c.ended_at.is_(None))
                .values(ended_at=at, end_reason=reason)
                .returning(_LS.c.id, _LS.c.user_id)
            )
            rows = sorted(result.all(), key=lambda r: str(r.id))
            ended = [str(r.id) for r in rows]
            await self._close_open_flags(conn, ended, at)
            for r in rows:
                # The actor is whoever ended it: the student, or the proctor who ended it for them.
                details: dict[str, object] = {"reason": reason}
                if by is not None and by != int(r.user_id):
                    details["by"] = by
                await audit.append(
                    conn,
                    at=at,
                    action="session_end",
                    actor=int(r.user_id) if by is None else by,
                    subject=f"session:{r.id}",
                    details=details,
                )
        return ended

    @staticmethod
    async def _owner(conn: AsyncConnection, session_id: str) -> int | None:
        return (await conn.execute(select(_LS.c.user_id).where(_LS.c.id == session_id))).scalar()

    @staticmethod
    async def _close_open_flags(conn: AsyncConnection, session_ids: Iterable[str], at: float) -> None:
        # A flag cannot outlast its session (e.g. a crash left one open).
        ids = list(session_ids)
        if ids:
            await conn.execute(
                update(_FL).where(_FL.c.session_id.in_(ids), _FL.c.ended_at.is_(None)).values(ended_at=at)
            )

    async def end_session(self, session_id: str, at: float, reason: str, *, by: int | None = None) -> bool:
        """End a session; idempotent (False if it was already ended or is unknown). `by`: who ended
        it when not its student (a proctor), recorded as the audit row's actor."""
        return bool(await self._end_where(_LS.c.id == session_id, at, reason, by))

    async def end_open_sessions_for_user(self, user_id: int, at: float, reason: str) -> list[str]:
        """End every open session of a student (one live stream per student); returns their ids."""
        return await self._end_where(_LS.c.user_id == user_id, at, reason)

    async def end_all_open(self, at: float, reason: str) -> list[str]:
        """End every open session (startup/shutdown recovery); returns their ids."""
        return await self._end_where(_LS.c.ended_at.is_(None), at, reason)

    async def end_stale_open(self, at: float, idle_s: float, reason: str) -> list[str]:
        """End open sessions with no sample for `idle_s` (their node died); live ones elsewhere stay.

        With several media nodes on one ledger, a node starting up must not end the sessions other
        nodes are streaming: those sample every few seconds, a dead node's sessions do not.
        """
        last = select(func.max(_SAMPLES.c.at)).where(_SAMPLES.c.session_id == _LS.c.id).scalar_subquery()
        return await self._end_where(func.coalesce(last, _LS.c.started_at) < at - idle_s, at, reason)

    async def update_session_state(
        self, session_id: str, state: str, reason: str, samples_total: int, samples_verified: int
    ) -> None:
        async with self._db.engine.begin() as conn:
            await self._set_state(conn, session_id, SessionState(state, reason, samples_total, samples_verified))

    @staticmethod
    async def _set_state(conn: AsyncConnection, session_id: str, s: SessionState) -> None:
        result = await conn.execute(
            update(_LS)
            .where(_LS.c.id == session_id)
            .values(state=s.state, reason=s.reason, samples_total=s.samples_total, samples_verified=s.samples_verified)
        )
        if result.rowcount == 0:
            raise UnknownSession(session_id)

    @staticmethod
    async def _check_open(conn: AsyncConnection, session_id: str) -> None:
        """Raise SessionEnded unless the session is open (locking its row against a concurrent end).

        UnknownSession when there is no such session. On PostgreSQL `FOR UPDATE` orders this
        write after any end in flight; SQLite's write transaction already holds the database lock.
        """
        row = (
            await conn.execute(select(_LS.c.ended_at, _LS.c.end_reason).where(_LS.c.id == session_id).with_for_update())
        ).first()
        if row is None:
            raise UnknownSession(session_id)
        if row.ended_at is not None:
            raise SessionEnded(session_id, float(row.ended_at), str(row.end_reason or "ended"))

    # -- credited intervals -----------------------------------------------------------------------

    async def append_interval(self, session_id: str, seq: int, start: float, end: float, *,
                              lesson_id: str | None = None) -> bool:
        """Append one credited interval; False (and nothing written) if `(session_id, seq)` exists.

        Raises ValueError when `end <= start`, UnknownSession when the session does not exist,
        SessionEnded when it has ended (so no interval ever ends after its `ended_at`).
        """
        start, end = _finite("start", start), _finite("end", end)
        if end <= start:
            raise ValueError(f"interval end ({end}) must be after start ({start})")
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq}")
        stmt = self._insert_ignoring_conflict(
            _CI,
            {
                "session_id": session_id,
                "seq": seq,
                "start_at": start,
                "end_at": end,
                "seconds": end - start,
                # Time of the write as the ledger knows it: the interval's end (no clock needed).
                "created_at": end,
                "lesson_id": lesson_id,
            },
            ["session_id", "seq"],
        )
        try:
            async with audit.write_transaction(self._db) as conn:
                await self._check_open(conn, session_id)
                inserted = (await conn.execute(stmt)).first() is not None
                if inserted:
                    await audit.append(
                        conn,
                        at=end,
                        action="credit",
                        actor=await self._owner(conn, session_id),
                        subject=f"session:{session_id}",
                        details={"seq": seq, "start": start, "end": end, "seconds": end - start},
                    )
        except IntegrityError as e:  # the foreign key: no such session
            raise UnknownSession(session_id) from e
        return inserted

    # -- samples ----------------------------------------------------------------------------------

    async def record_sample(self, session_id: str, at: float, reason: str, score: float | None, *,
                            state: SessionState | None = None) -> None:
        """Store one sample for the timeline (no audit row: one per sample); with `state`, the
        session's state and counters too, in the same transaction: samples are the hot path, and
        on SQLite every commit is an fsync. SessionEnded when the session has ended."""
        at = _finite("at", at)
        if score is not None:
            score = _finite("score", score)
        try:
            async with self._db.engine.begin() as conn:
                await self._check_open(conn, session_id)
                await conn.execute(_SAMPLES.insert().values(session_id=session_id, at=at, reason=reason, score=score))
                if state is not None:
                    await self._set_state(conn, session_id, state)
        except IntegrityError as e:
            raise UnknownSession(session_id) from e

    # -- flags ------------------------------------------------------------------------------------

    @staticmethod
    async def _flag_id(conn: AsyncConnection, session_id: str, kind: str, started_at: float) -> int:
        return int(
            (
                await conn.execute(
                    select(_FL.c.id).where(
                        _FL.c.session_id == session_id, _FL.c.kind == kind, _FL.c.started_at == started_at
                    )
                )
            ).scalar_one()
        )

    async def record_flag_raised(self, session_id: str, kind: str, started_at: float) -> int:
        """Record a raised flag and return its id; the same (session, kind, started_at) again is a
        no-op that returns the same id."""
        started_at = _finite("started_at", started_at)
        stmt = self._insert_ignoring_conflict(
            _FL,
            {"session_id": session_id, "kind": kind, "started_at": started_at},
            ["session_id", "kind", "started_at"],
        )
        try:
            async with audit.write_transaction(self._db) as conn:
                new_id = (await conn.execute(stmt)).scalar()
                if new_id is None:
                    return await self._flag_id(conn, session_id, kind, started_at)
                await audit.append(
                    conn,
                    at=started_at,
                    action="flag_raised",
                    actor=await self._owner(conn, session_id),
                    subject=f"session:{session_id}",
                    details={"kind": kind, "started_at": started_at},
                )
                return int(new_id)
        except IntegrityError as e:
            raise UnknownSession(session_id) from e

    async def record_flag_ended(self, session_id: str, kind: str, started_at: float, ended_at: float) -> int:
        """Close a flag (inserting it closed if its raise was never recorded); idempotent. Its id."""
        started_at, ended_at = _finite("started_at", started_at), _finite("ended_at", ended_at)
        try:
            async with audit.write_transaction(self._db) as conn:
                result = await conn.execute(
                    update(_FL)
                    .where(
                        _FL.c.session_id == session_id,
                        _FL.c.kind == kind,
                        _FL.c.started_at == started_at,
                        _FL.c.ended_at.is_(None),
                    )
                    .values(ended_at=ended_at)
                )
                changed = result.rowcount > 0
                if not changed:
                    inserted = await conn.execute(
                        self._insert_ignoring_conflict(
                            _FL,
                            {
                                "session_id": session_id,
                                "kind": kind,
                                "started_at": started_at,
                                "ended_at": ended_at,
                            },
                            ["session_id", "kind", "started_at"],
                        )
                    )
                    changed = inserted.first() is not None
                if changed:
                    await audit.append(
                        conn,
                        at=ended_at,
                        action="flag_ended",
                        actor=await self._owner(conn, session_id),
                        subject=f"session:{session_id}",
                        details={"kind": kind, "started_at": started_at, "ended_at": ended_at},
                    )
                return await self._flag_id(conn, session_id, kind, started_at)
        except IntegrityError as e:
            raise UnknownSession(session_id) from e
