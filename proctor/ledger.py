"""The verified-time ledger.

Credited time is only ever the sum of append-only `credited_intervals` rows; totals per topic or
module are derived by query, never stored. Every write is one short transaction committed at once,
so a kill -9 loses at most the interval in flight, and a retried append of the same
`(session_id, seq)` is a no-op, so retries never double count.

Session start/end, every credited interval and every flag raise/end write their audit row
(`proctor.audit`) in the same transaction as the change itself, at the event's own time; a retried
no-op writes none.

A proctor who confirms a flag voids the credit inside it through an `adjustments` row
(`proctor.review`): intervals are never changed, and progress (`credited_by_topic`/`_module`) is
the intervals minus the adjustments, never below zero per topic. Samples (`record_sample`) are one
plain insert each, for the proctor's timeline: no audit row.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock, SystemClock
from proctor.db import Database
from proctor.tables import adjustments as _ADJ
from proctor.tables import credited_intervals as _CI
from proctor.tables import flags as _FL
from proctor.tables import live_sessions as _LS
from proctor.tables import samples as _SAMPLES
from proctor.tables import snapshots as _SNAP
from proctor.tables import users as _USERS

SNAPSHOT_RETENTION_S = 7 * 86400.0
"""How long a flag's snapshot is kept (and shown) before it is deleted for good."""


class UnknownSession(LookupError):
    """No live session with that id."""


class UnknownFlag(LookupError):
    """No flag with that id."""


@dataclass(frozen=True)
class FlagRecord:
    kind: str
    started_at: float
    ended_at: float | None
    id: int | None = None
    review: str = "open"


@dataclass(frozen=True)
class SessionRecord:
    id: str
    user_id: int
    topic_id: str
    module_id: str
    started_at: float
    ended_at: float | None
    state: str
    reason: str
    credited_seconds: float
    samples_total: int
    samples_verified: int
    flags: list[FlagRecord] = field(default_factory=list)
    end_reason: str | None = None
    voided_seconds: float = 0.0  # voided by adjustments; credited_seconds stays the gross interval sum


@dataclass(frozen=True)
class SessionState:
    """A live session's state as the dashboard and GET /api/sessions/{id} read it."""

    state: str  # verified | unverified
    reason: str  # the latest sample's reason
    samples_total: int
    samples_verified: int


@dataclass(frozen=True)
class SampleRecord:
    at: float
    reason: str
    score: float | None


@dataclass(frozen=True)
class IntervalRecord:
    seq: int
    start: float
    end: float
    seconds: float


@dataclass(frozen=True)
class Adjustment:
    """Credited seconds a proctor voided: `seconds` of the session's credit in [start_at, end_at]."""

    id: int
    session_id: str
    flag_id: int | None
    user_id: int
    topic_id: str
    module_id: str
    seconds: float
    start_at: float
    end_at: float
    note: str | None
    by_user_id: int | None
    at: float


@dataclass(frozen=True)
class FlagView:
    """A flag as a reviewer sees it: with its student, review state and whether a snapshot is kept."""

    flag_id: int
    session_id: str
    student_id: int
    srn: str | None
    name: str
    kind: str
    started_at: float
    ended_at: float | None
    review: str
    note: str | None
    reviewed_by: int | None
    reviewed_at: float | None
    has_snapshot: bool


@dataclass(frozen=True)
class Timeline:
    samples: list[SampleRecord]
    intervals: list[IntervalRecord]
    flags: list[FlagView]
    adjustments: list[Adjustment]
    session: SessionRecord


def flag_view_query(snapshot_cutoff: float) -> Select[Any]:
    """SELECT of FlagView columns (flags ⋈ live_sessions ⋈ users); a snapshot counts if newer than the cutoff."""
    has_snapshot = exists().where(_SNAP.c.flag_id == _FL.c.id, _SNAP.c.created_at > snapshot_cutoff)
    return select(
        _FL.c.id,
        _FL.c.session_id,
        _LS.c.user_id,
        _USERS.c.srn,
        _USERS.c.name,
        _FL.c.kind,
        _FL.c.started_at,
        _FL.c.ended_at,
        _FL.c.review,
        _FL.c.note,
        _FL.c.reviewed_by,
        _FL.c.reviewed_at,
        has_snapshot.label("has_snapshot"),
    ).select_from(_FL.join(_LS, _FL.c.session_id == _LS.c.id).join(_USERS, _LS.c.user_id == _USERS.c.id))


def flag_view(r: Any) -> FlagView:
    return FlagView(
        flag_id=int(r.id),
        session_id=str(r.session_id),
        student_id=int(r.user_id),
        srn=r.srn,
        name=str(r.name),
        kind=str(r.kind),
        started_at=float(r.started_at),
        ended_at=None if r.ended_at is None else float(r.ended_at),
        review=str(r.review),
        note=r.note,
        reviewed_by=r.reviewed_by,
        reviewed_at=None if r.reviewed_at is None else float(r.reviewed_at),
        has_snapshot=bool(r.has_snapshot),
    )


def adjustment(r: Any) -> Adjustment:
    return Adjustment(
        id=int(r.id),
        session_id=str(r.session_id),
        flag_id=None if r.flag_id is None else int(r.flag_id),
        user_id=int(r.user_id),
        topic_id=str(r.topic_id),
        module_id=str(r.module_id),
        seconds=float(r.seconds),
        start_at=float(r.start_at),
        end_at=float(r.end_at),
        note=r.note,
        by_user_id=r.by_user_id,
        at=float(r.at),
    )


def _finite(name: str, x: float) -> float:
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return float(x)


class Ledger:
    def __init__(
        self, db: Database, clock: Clock | None = None, *, snapshot_retention_s: float = SNAPSHOT_RETENTION_S
    ) -> None:
        # The clock only decides whether a flag's snapshot is still kept (`FlagView.has_snapshot`);
        # every write is stamped with its event's own time.
        self._db = db
        self._clock: Clock = clock or SystemClock()
        self._retention_s = float(snapshot_retention_s)

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
                )
            )
            await audit.append(
                conn,
                at=at,
                action="session_start",
                actor=user_id,
                subject=f"session:{session_id}",
                details={"topic_id": topic_id, "module_id": module_id},
            )
        return session_id

    async def _end_where(self, where: ColumnElement[bool], at: float, reason: str) -> list[str]:
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
                await audit.append(
                    conn,
                    at=at,
                    action="session_end",
                    actor=int(r.user_id),
                    subject=f"session:{r.id}",
                    details={"reason": reason},
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

    async def end_session(self, session_id: str, at: float, reason: str) -> bool:
        """End a session; idempotent (False if it was already ended or is unknown)."""
        return bool(await self._end_where(_LS.c.id == session_id, at, reason))

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

    # -- credited intervals -----------------------------------------------------------------------

    async def append_interval(self, session_id: str, seq: int, start: float, end: float) -> bool:
        """Append one credited interval; False (and nothing written) if `(session_id, seq)` exists.

        Raises ValueError when `end <= start`, UnknownSession when the session does not exist.
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
            },
            ["session_id", "seq"],
        )
        try:
            async with audit.write_transaction(self._db) as conn:
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
        on SQLite every commit is an fsync."""
        at = _finite("at", at)
        if score is not None:
            score = _finite("score", score)
        try:
            async with self._db.engine.begin() as conn:
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

    # -- reads ------------------------------------------------------------------------------------

    @staticmethod
    async def _session(conn: AsyncConnection, session_id: str) -> SessionRecord | None:
        row = (await conn.execute(select(_LS).where(_LS.c.id == session_id))).first()
        if row is None:
            return None
        credited = (
            await conn.execute(
                select(func.coalesce(func.sum(_CI.c.seconds), 0.0)).where(_CI.c.session_id == session_id)
            )
        ).scalar_one()
        voided = (
            await conn.execute(
                select(func.coalesce(func.sum(_ADJ.c.seconds), 0.0)).where(_ADJ.c.session_id == session_id)
            )
        ).scalar_one()
        flags = (
            await conn.execute(
                select(_FL.c.id, _FL.c.kind, _FL.c.started_at, _FL.c.ended_at, _FL.c.review)
                .where(_FL.c.session_id == session_id)
                .order_by(_FL.c.started_at, _FL.c.id)
            )
        ).all()
        return SessionRecord(
            id=row.id,
            user_id=row.user_id,
            topic_id=row.topic_id,
            module_id=row.module_id,
            started_at=row.started_at,
            ended_at=row.ended_at,
            state=row.state,
            reason=row.reason,
            credited_seconds=float(credited),
            samples_total=row.samples_total,
            samples_verified=row.samples_verified,
            flags=[FlagRecord(f.kind, f.started_at, f.ended_at, int(f.id), str(f.review)) for f in flags],
            end_reason=row.end_reason,
            voided_seconds=float(voided),
        )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        async with self._db.engine.connect() as conn:
            return await self._session(conn, session_id)

    async def timeline(self, session_id: str) -> Timeline:
        """Everything a reviewer needs about one session, in time order; UnknownSession if none."""
        cutoff = self._clock.now() - self._retention_s
        async with self._db.engine.connect() as conn:
            record = await self._session(conn, session_id)
            if record is None:
                raise UnknownSession(session_id)
            samples = (
                await conn.execute(
                    select(_SAMPLES.c.at, _SAMPLES.c.reason, _SAMPLES.c.score)
                    .where(_SAMPLES.c.session_id == session_id)
                    .order_by(_SAMPLES.c.at, _SAMPLES.c.id)
                )
            ).all()
            intervals = (
                await conn.execute(
                    select(_CI.c.seq, _CI.c.start_at, _CI.c.end_at, _CI.c.seconds)
                    .where(_CI.c.session_id == session_id)
                    .order_by(_CI.c.start_at, _CI.c.seq)
                )
            ).all()
            flags = (
                await conn.execute(
                    flag_view_query(cutoff).where(_FL.c.session_id == session_id).order_by(_FL.c.started_at, _FL.c.id)
                )
            ).all()
            adjustments = (
                await conn.execute(select(_ADJ).where(_ADJ.c.session_id == session_id).order_by(_ADJ.c.at, _ADJ.c.id))
            ).all()
        return Timeline(
            samples=[
                SampleRecord(float(r.at), str(r.reason), None if r.score is None else float(r.score)) for r in samples
            ],
            intervals=[
                IntervalRecord(int(r.seq), float(r.start_at), float(r.end_at), float(r.seconds)) for r in intervals
            ],
            flags=[flag_view(r) for r in flags],
            adjustments=[adjustment(r) for r in adjustments],
            session=record,
        )

    async def adjustments_for_user(self, user_id: int) -> list[Adjustment]:
        """What proctors voided from a student's credit, newest first."""
        async with self._db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(_ADJ).where(_ADJ.c.user_id == user_id).order_by(_ADJ.c.at.desc(), _ADJ.c.id.desc())
                )
            ).all()
        return [adjustment(r) for r in rows]

    async def _net_by_topic(self, user_id: int) -> dict[tuple[str, str], float]:
        """(module_id, topic_id) → credited seconds net of adjustments, never below zero."""
        async with self._db.engine.connect() as conn:
            gross = (
                await conn.execute(
                    select(_LS.c.module_id, _LS.c.topic_id, func.sum(_CI.c.seconds))
                    .select_from(_CI.join(_LS, _CI.c.session_id == _LS.c.id))
                    .where(_LS.c.user_id == user_id)
                    .group_by(_LS.c.module_id, _LS.c.topic_id)
                )
            ).all()
            voided = (
                await conn.execute(
                    select(_ADJ.c.module_id, _ADJ.c.topic_id, func.sum(_ADJ.c.seconds))
                    .where(_ADJ.c.user_id == user_id)
                    .group_by(_ADJ.c.module_id, _ADJ.c.topic_id)
                )
            ).all()
        void = {(str(m), str(t)): float(v) for m, t, v in voided}
        return {(str(m), str(t)): max(0.0, float(g) - void.get((str(m), str(t)), 0.0)) for m, t, g in gross}

    async def credited_since(self, user_id: int, since: float) -> float:
        """A student's credit from intervals ending at or after `since` (e.g. today's), minus the
        adjustments voiding time at or after it; never below zero."""
        return (await self.credited_since_by_user([user_id], since)).get(user_id, 0.0)

    async def credited_since_by_user(self, user_ids: list[int], since: float) -> dict[int, float]:
        """`credited_since` for many students in two grouped queries (the proctors' session list)."""
        since = _finite("since", since)
        if not user_ids:
            return {}
        async with self._db.engine.connect() as conn:
            gross = (
                await conn.execute(
                    select(_LS.c.user_id, func.sum(_CI.c.seconds))
                    .select_from(_CI.join(_LS, _CI.c.session_id == _LS.c.id))
                    .where(_LS.c.user_id.in_(user_ids), _CI.c.end_at >= since)
                    .group_by(_LS.c.user_id)
                )
            ).all()
            voided = {
                uid: seconds
                for uid, seconds in await conn.execute(
                    select(_ADJ.c.user_id, func.sum(_ADJ.c.seconds))
                    .where(_ADJ.c.user_id.in_(user_ids), _ADJ.c.end_at >= since)
                    .group_by(_ADJ.c.user_id)
                )
            }
        out = {int(uid): 0.0 for uid in user_ids}
        for uid, seconds in gross:
            out[int(uid)] = max(0.0, float(seconds or 0.0) - float(voided.get(uid) or 0.0))
        return out

    async def credited_by_topic(self, user_id: int) -> dict[str, float]:
        """topic_id → credited seconds: the intervals minus voided adjustments, never below zero."""
        out: dict[str, float] = {}
        for (_module, topic), seconds in (await self._net_by_topic(user_id)).items():
            out[topic] = out.get(topic, 0.0) + seconds
        return out

    async def credited_by_module(self, user_id: int) -> dict[str, float]:
        """module_id → the sum of its topics' net credited seconds (see `credited_by_topic`)."""
        out: dict[str, float] = {}
        for (module, _topic), seconds in (await self._net_by_topic(user_id)).items():
            out[module] = out.get(module, 0.0) + seconds
        return out
