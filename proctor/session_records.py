"""Reading the ledger: a session's record and timeline, flags as reviewers see them, and the credit
proctors voided (adjustments).

Plain queries over the database, no state: the writes are `proctor.ledger`'s, the totals students
see are `proctor.progress`'s. Whether a flag still has its snapshot depends on the evidence
retention, so reads that show flags take the cutoff (`Evidence.cutoff()`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor.db import Database
from proctor.ledger import UnknownSession
from proctor.tables import adjustments as _ADJ
from proctor.tables import credited_intervals as _CI
from proctor.tables import flags as _FL
from proctor.tables import live_sessions as _LS
from proctor.tables import samples as _SAMPLES
from proctor.tables import snapshots as _SNAP
from proctor.tables import users as _USERS
from proctor.users import student_json

SNAPSHOT_RETENTION_S = 7 * 86400.0
"""How long a flag's snapshot is kept (and shown) before it is deleted for good."""


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
    """A flag as a reviewer sees it: with its student, review state and whether a snapshot is kept.

    The defaults are a flag just raised: open, not reviewed, no snapshot.
    """

    flag_id: int
    session_id: str
    student_id: int
    srn: str | None
    name: str
    kind: str
    started_at: float
    ended_at: float | None = None
    review: str = "open"
    note: str | None = None
    reviewed_by: int | None = None
    reviewed_at: float | None = None
    has_snapshot: bool = False

    @property
    def snapshot_url(self) -> str | None:
        """Where the proctor API serves the kept frame; None while none is kept."""
        return f"/api/proctor/flags/{self.flag_id}/snapshot" if self.has_snapshot else None

    def to_json(self) -> dict[str, Any]:
        """The flag as the proctor API lists it and the flag_raised/flag_reviewed events carry it."""
        return {
            "flag_id": self.flag_id,
            "session_id": self.session_id,
            "student": student_json(self.student_id, self.srn, self.name),
            "kind": self.kind,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "review": self.review,
            "note": self.note,
            "reviewed_by": self.reviewed_by,
            "reviewed_at": self.reviewed_at,
            "snapshot_url": self.snapshot_url,
        }


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


async def _record(conn: AsyncConnection, session_id: str) -> SessionRecord | None:
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


async def session_record(db: Database, session_id: str) -> SessionRecord | None:
    """The session with its credit totals and flags; None if there is no such session."""
    async with db.engine.connect() as conn:
        return await _record(conn, session_id)


async def session_timeline(db: Database, session_id: str, snapshot_cutoff: float) -> Timeline:
    """Everything a reviewer needs about one session, in time order; UnknownSession if none.

    A flag `has_snapshot` if its snapshot was created after `snapshot_cutoff` (`Evidence.cutoff()`).
    """
    async with db.engine.connect() as conn:
        record = await _record(conn, session_id)
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
                flag_view_query(snapshot_cutoff)
                .where(_FL.c.session_id == session_id)
                .order_by(_FL.c.started_at, _FL.c.id)
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


async def adjustments_for_user(db: Database, user_id: int) -> list[Adjustment]:
    """What proctors voided from a student's credit, newest first."""
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(_ADJ).where(_ADJ.c.user_id == user_id).order_by(_ADJ.c.at.desc(), _ADJ.c.id.desc())
            )
        ).all()
    return [adjustment(r) for r in rows]
