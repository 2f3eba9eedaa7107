"""A proctor's review of flags: acknowledge, dismiss (with a note), confirm, or undo a confirmation.

A flag is a run of failed samples, which earn no credit themselves; what a confirmed flag puts in
doubt is the credit around it. Confirming therefore voids, through one `adjustments` row (unique
per flag), the session's credit in a span chosen by `scope`:
- "flag": from the flag's start to its end (or now) plus one sample interval (`margin_s`), the
  interval that the first good sample after the flag credits;
- "session": the whole session, from its start to its end (or now).
The credited intervals themselves are never touched, and progress is derived net of adjustments
(`proctor.progress`). Time already voided by an earlier adjustment of the same session is not
voided again, so overlapping confirmed flags never void a second twice.

A confirmed flag cannot be acknowledged or dismissed (`ReviewConflict`); confirming it again is a
no-op. The proctor who confirmed it (and only they) can `undo`: the adjustment is removed, the
credit comes back and the flag is open again. Every change writes its audit rows ('flag_reviewed',
and 'credit_voided' or 'credit_restored' with the seconds) in the same transaction.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.session_records import SNAPSHOT_RETENTION_S, FlagView, UnknownFlag, flag_view, flag_view_query
from proctor.tables import adjustments as _ADJ
from proctor.tables import credited_intervals as _CI
from proctor.tables import flags as _FL
from proctor.tables import live_sessions as _LS

__all__ = ["MAX_NOTE_LENGTH", "FlagView", "Review", "ReviewConflict", "UnknownFlag"]

Action = Literal["acknowledge", "dismiss", "confirm", "undo"]
Scope = Literal["flag", "session"]
ListStatus = Literal["open", "all"]

MAX_NOTE_LENGTH = 2000
DEFAULT_MARGIN_S = 3.0  # one sample interval at the default `sample_interval_s`
_REVIEW_OF: dict[str, str] = {"acknowledge": "acknowledged", "dismiss": "dismissed", "confirm": "confirmed",
                              "undo": "open"}
SCOPES: tuple[str, ...] = ("flag", "session")


class ReviewConflict(ValueError):
    """The action does not fit the flag's state: acknowledging or dismissing a confirmed flag,
    undoing one that is not confirmed, or undoing someone else's confirmation."""


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise ValueError(f"note must be at most {MAX_NOTE_LENGTH} characters, got {len(note)}")
    return note or None


def _minus(segments: list[tuple[float, float]], cuts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of `segments` outside every cut (all half-open spans)."""
    out = segments
    for c0, c1 in cuts:
        kept: list[tuple[float, float]] = []
        for s0, s1 in out:
            if c1 <= s0 or c0 >= s1:
                kept.append((s0, s1))
                continue
            if s0 < c0:
                kept.append((s0, c0))
            if c1 < s1:
                kept.append((c1, s1))
        out = kept
    return out


async def voidable_seconds(conn: AsyncConnection, session_id: str, start: float, end: float) -> float:
    """Credited seconds of a session inside [start, end] not already voided by an adjustment."""
    if end <= start:
        return 0.0
    intervals = (
        await conn.execute(
            select(_CI.c.start_at, _CI.c.end_at).where(
                _CI.c.session_id == session_id, _CI.c.start_at < end, _CI.c.end_at > start
            )
        )
    ).all()
    voided = (
        await conn.execute(
            select(_ADJ.c.start_at, _ADJ.c.end_at).where(
                _ADJ.c.session_id == session_id, _ADJ.c.start_at < end, _ADJ.c.end_at > start
            )
        )
    ).all()
    overlap = [(max(float(s), start), min(float(e), end)) for s, e in intervals]
    remaining = _minus([seg for seg in overlap if seg[1] > seg[0]], [(float(s), float(e)) for s, e in voided])
    return sum(e - s for s, e in remaining)


class Review:
    def __init__(self, db: Database, clock: Clock, *, snapshot_retention_s: float = SNAPSHOT_RETENTION_S,
                 margin_s: float = DEFAULT_MARGIN_S) -> None:
        self._db = db
        self._clock = clock
        self._retention_s = float(snapshot_retention_s)
        self._margin_s = float(margin_s)  # credit voided past a confirmed flag's end: one sample interval

    async def _view(self, conn: AsyncConnection, flag_id: int) -> FlagView | None:
        cutoff = self._clock.now() - self._retention_s
        row = (await conn.execute(flag_view_query(cutoff).where(_FL.c.id == flag_id))).first()
        return None if row is None else flag_view(row)

    async def get(self, flag_id: int) -> FlagView | None:
        async with self._db.engine.connect() as conn:
            return await self._view(conn, flag_id)

    async def list_flags(self, status: ListStatus = "open", limit: int = 100) -> list[FlagView]:
        """Newest first (by start); 'open' = not reviewed yet. `limit` is clamped to 1..1000."""
        if status not in ("open", "all"):
            raise ValueError(f"status must be 'open' or 'all', got {status!r}")
        query = flag_view_query(self._clock.now() - self._retention_s)
        if status == "open":
            query = query.where(_FL.c.review == "open")
        query = query.order_by(_FL.c.started_at.desc(), _FL.c.id.desc()).limit(max(1, min(int(limit), 1000)))
        async with self._db.engine.connect() as conn:
            return [flag_view(r) for r in (await conn.execute(query)).all()]

    async def review(self, flag_id: int, action: Action, note: str | None, by_user_id: int,
                     scope: Scope = "flag") -> FlagView:
        """Apply a reviewer's decision; returns the updated flag. `scope` is what 'confirm' voids.

        ValueError: unknown action or scope, dismiss without a note, note too long. UnknownFlag: no
        such flag. ReviewConflict: acknowledge/dismiss of a confirmed flag; undo of a flag that is not
        confirmed, or that someone else confirmed.
        """
        review = _REVIEW_OF.get(action)
        if review is None:
            raise ValueError(f"action must be one of {sorted(_REVIEW_OF)}, got {action!r}")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {list(SCOPES)}, got {scope!r}")
        note = _clean_note(note)
        if action == "dismiss" and note is None:
            raise ValueError("dismissing a flag needs a note saying why")
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            flag = (
                await conn.execute(
                    select(
                        _FL.c.id,
                        _FL.c.session_id,
                        _FL.c.kind,
                        _FL.c.started_at,
                        _FL.c.ended_at,
                        _FL.c.review,
                        _FL.c.note,
                        _FL.c.reviewed_by,
                        _LS.c.user_id,
                        _LS.c.topic_id,
                        _LS.c.module_id,
                        _LS.c.started_at.label("session_started_at"),
                        _LS.c.ended_at.label("session_ended_at"),
                    )
                    .select_from(_FL.join(_LS, _FL.c.session_id == _LS.c.id))
                    .where(_FL.c.id == flag_id)
                )
            ).first()
            if flag is None:
                raise UnknownFlag(flag_id)
            if action == "undo":
                return await self._undo(conn, flag, note, by_user_id, now)
            if flag.review == "confirmed":
                if action != "confirm":
                    raise ReviewConflict(f"flag {flag_id} is confirmed and its credit voided; it cannot be {review}")
                view = await self._view(conn, flag_id)  # confirmed twice: nothing more to do
                assert view is not None
                return view
            await conn.execute(
                update(_FL)
                .where(_FL.c.id == flag_id)
                .values(
                    review=review,
                    note=note if note is not None else flag.note,
                    reviewed_by=by_user_id,
                    reviewed_at=now,
                )
            )
            details: dict[str, object] = {"action": action, "review": review, "session_id": flag.session_id}
            if action == "confirm":
                details["scope"] = scope
            if note is not None:
                details["note"] = note
            await audit.append(
                conn, at=now, action="flag_reviewed", actor=by_user_id, subject=f"flag:{flag_id}", details=details
            )
            if action == "confirm":
                if scope == "session":
                    start = float(flag.session_started_at)
                    end = float(flag.session_ended_at) if flag.session_ended_at is not None else now
                else:
                    start = float(flag.started_at)
                    end = (float(flag.ended_at) if flag.ended_at is not None else now) + self._margin_s
                seconds = await voidable_seconds(conn, flag.session_id, start, end)
                if seconds > 0:
                    adjustment_id = (
                        await conn.execute(
                            _ADJ.insert()
                            .values(
                                session_id=flag.session_id,
                                flag_id=flag_id,
                                user_id=flag.user_id,
                                topic_id=flag.topic_id,
                                module_id=flag.module_id,
                                seconds=seconds,
                                start_at=start,
                                end_at=end,
                                note=note,
                                by_user_id=by_user_id,
                                at=now,
                            )
                            .returning(_ADJ.c.id)
                        )
                    ).scalar_one()
                    await audit.append(
                        conn,
                        at=now,
                        action="credit_voided",
                        actor=by_user_id,
                        subject=f"session:{flag.session_id}",
                        details={
                            "flag_id": flag_id,
                            "adjustment_id": int(adjustment_id),
                            "seconds": seconds,
                            "start": start,
                            "end": end,
                            "user_id": int(flag.user_id),
                            "topic_id": flag.topic_id,
                            "scope": scope,
                        },
                    )
            view = await self._view(conn, flag_id)
            assert view is not None
            return view

    async def _undo(self, conn: AsyncConnection, flag: Any, note: str | None, by_user_id: int,
                    now: float) -> FlagView:
        """Take back one's own confirmation: the credit it voided comes back, the flag is open again."""
        flag_id = int(flag.id)
        if flag.review != "confirmed":
            raise ReviewConflict(f"flag {flag_id} is not confirmed; there is nothing to undo")
        if flag.reviewed_by != by_user_id:
            raise ReviewConflict(f"flag {flag_id} was confirmed by someone else; only they can undo it")
        removed = (
            await conn.execute(
                delete(_ADJ).where(_ADJ.c.flag_id == flag_id).returning(_ADJ.c.id, _ADJ.c.seconds)
            )
        ).all()
        await conn.execute(
            update(_FL)
            .where(_FL.c.id == flag_id)
            .values(review="open", note=note if note is not None else flag.note, reviewed_by=by_user_id,
                    reviewed_at=now)
        )
        details: dict[str, object] = {"action": "undo", "review": "open", "session_id": flag.session_id}
        if note is not None:
            details["note"] = note
        await audit.append(conn, at=now, action="flag_reviewed", actor=by_user_id, subject=f"flag:{flag_id}",
                           details=details)
        for adjustment_id, seconds in removed:
            await audit.append(
                conn,
                at=now,
                action="credit_restored",
                actor=by_user_id,
                subject=f"session:{flag.session_id}",
                details={"flag_id": flag_id, "adjustment_id": int(adjustment_id), "seconds": float(seconds),
                         "user_id": int(flag.user_id), "topic_id": flag.topic_id},
            )
        view = await self._view(conn, flag_id)
        assert view is not None
        return view
