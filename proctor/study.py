"""What a student studies and has studied: elective choices, per-lesson progress and dated history.

Electives: a set whose modules are all optional (SPOM's Sets C and D) is an elective set; the student
takes one module of it. The choice can change until the first confirmed credit in that set; after
that only an admin may change it. Progress and history read confirmed credit only: the
`credited_intervals`, less what proctors voided (`adjustments`), never below zero.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select

from proctor import audit
from proctor.catalog import Catalog, Module
from proctor.clock import Clock
from proctor.db import Database
from proctor.progress import credited_by_module
from proctor.tables import adjustments as _ADJ
from proctor.tables import credited_intervals as _CI
from proctor.tables import elective_choices as _EC
from proctor.tables import live_sessions as _LS

DEFAULT_TIME_ZONE = "Asia/Kolkata"


class ElectiveError(Exception):
    """A refused elective choice: `code` for the API, the message for the student."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def elective_sets(catalog: Catalog) -> dict[str, list[Module]]:
    """Set name → its modules, for every set in which no module is mandatory."""
    out: dict[str, list[Module]] = {}
    for name in catalog.sets:
        modules = [m for m in catalog.modules if m.set == name]
        if modules and not any(m.mandatory for m in modules):
            out[name] = modules
    return out


class Electives:
    """Reads and records elective choices."""

    def __init__(self, db: Database, clock: Clock, catalog: Catalog) -> None:
        self._db, self._clock, self._catalog = db, clock, catalog
        self.sets = elective_sets(catalog)

    async def choices(self, user_id: int) -> dict[str, str]:
        """Set name → chosen module id (only sets with a choice)."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(_EC.c.set_name, _EC.c.module_id).where(_EC.c.user_id == user_id))).all()
        return {str(s): str(m) for s, m in rows if str(s) in self.sets}

    async def locked(self, user_id: int, set_name: str) -> bool:
        """Whether the set already has confirmed credit, so that only an admin may change the choice."""
        credited = await credited_by_module(self._db, user_id)
        return any(credited.get(m.id, 0.0) > 0 for m in self.sets.get(set_name, []))

    def allowed(self, module: Module, choices: dict[str, str]) -> bool:
        """Whether a student with these choices may study `module`."""
        return module.set not in self.sets or choices.get(module.set) == module.id

    async def choose(self, user_id: int, set_name: str, module_id: str, *, admin_id: int | None = None) -> bool:
        """Record the choice; True if it changed anything. Raises ElectiveError when refused."""
        modules = self.sets.get(set_name)
        if modules is None:
            raise ElectiveError("not_elective", f"set {set_name!r} is not an elective set")
        if module_id not in {m.id for m in modules}:
            raise ElectiveError("unknown_module", f"no module {module_id!r} in set {set_name}")
        current = (await self.choices(user_id)).get(set_name)
        if current == module_id:
            return False
        if current is not None and admin_id is None and await self.locked(user_id, set_name):
            raise ElectiveError("elective_locked", f"you already have credited time in set {set_name}; "
                                                   "only an admin can change this choice now")
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            await conn.execute(delete(_EC).where(_EC.c.user_id == user_id, _EC.c.set_name == set_name))
            await conn.execute(_EC.insert().values(user_id=user_id, set_name=set_name, module_id=module_id,
                                                   chosen_at=now, chosen_by=admin_id))
            await audit.append(conn, at=now, action="elective_chosen", actor=admin_id or user_id,
                               subject=f"user:{user_id}",
                               details={"set": set_name, "module_id": module_id, "previous": current})
        return True


async def credited_by_lesson(db: Database, user_id: int) -> dict[str, float]:
    """lesson_id → confirmed seconds credited while that lesson played (lesson mode only)."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(
            select(_CI.c.lesson_id, func.sum(_CI.c.seconds))
            .select_from(_CI.join(_LS, _CI.c.session_id == _LS.c.id))
            .where(_LS.c.user_id == user_id, _CI.c.lesson_id.is_not(None))
            .group_by(_CI.c.lesson_id))).all()
    return {str(lesson): float(seconds or 0.0) for lesson, seconds in rows}


@dataclass(frozen=True)
class SessionSummary:
    """One session of the history."""

    session_id: str
    topic_id: str
    lesson_id: str | None
    started_at: float
    ended_at: float | None
    credited_seconds: float
    samples_total: int
    samples_verified: int

    def to_json(self) -> dict[str, object]:
        return {"session_id": self.session_id, "topic_id": self.topic_id, "lesson_id": self.lesson_id,
                "started_at": self.started_at, "ended_at": self.ended_at,
                "credited_seconds": round(self.credited_seconds, 3),
                "samples": {"total": self.samples_total, "verified": self.samples_verified}}


@dataclass(frozen=True)
class History:
    """Credited seconds per local day (oldest first, every day of the range) and the sessions in it."""

    days: list[tuple[date, float]]
    sessions: list[SessionSummary]

    def to_json(self) -> dict[str, object]:
        return {"days": [{"date": d.isoformat(), "credited_seconds": round(s, 3)} for d, s in self.days],
                "sessions": [s.to_json() for s in self.sessions]}


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (e.g. Asia/Kolkata); ValueError, saying so, for anything else."""
    if not name or len(name) > 64 or name.startswith(("/", ".")):
        raise ValueError(f"{name[:64]!r} is not an IANA time zone (e.g. Asia/Kolkata)")
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Asia/Kolkata)") from None


def _split_by_day(start: float, end: float, tz: ZoneInfo) -> list[tuple[date, float]]:
    """[start, end) cut at local midnights: (local date, seconds) pieces."""
    out: list[tuple[date, float]] = []
    t = start
    while t < end:
        local = datetime.fromtimestamp(t, tz)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tz).timestamp()
        piece_end = min(end, midnight)
        out.append((local.date(), piece_end - t))
        t = piece_end
    return out


async def history(db: Database, user_id: int, days: int, now: float, tz: ZoneInfo) -> History:
    """The last `days` local days up to and including today: confirmed credit per day, and the sessions."""
    if days < 1 or not math.isfinite(now):
        raise ValueError("days must be >= 1 and now finite")
    today = datetime.fromtimestamp(now, tz).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tz).timestamp()
    async with db.engine.connect() as conn:
        intervals = (await conn.execute(
            select(_CI.c.session_id, _CI.c.start_at, _CI.c.end_at)
            .select_from(_CI.join(_LS, _CI.c.session_id == _LS.c.id))
            .where(_LS.c.user_id == user_id, _CI.c.end_at > since))).all()
        voids = (await conn.execute(
            select(_ADJ.c.session_id, _ADJ.c.end_at, _ADJ.c.seconds)
            .where(_ADJ.c.user_id == user_id, _ADJ.c.end_at > since))).all()
        sessions = (await conn.execute(
            select(_LS).where(_LS.c.user_id == user_id,
                              (_LS.c.ended_at.is_(None)) | (_LS.c.ended_at >= since))
            .order_by(_LS.c.started_at.desc()))).all()
    per_day: dict[date, float] = defaultdict(float)
    per_session: dict[str, float] = defaultdict(float)
    for sid, start, end in intervals:
        for day, seconds in _split_by_day(max(float(start), since), float(end), tz):
            per_day[day] += seconds
        per_session[str(sid)] += float(end) - max(float(start), since)
    for sid, end, seconds in voids:  # voided time leaves the day and the session it was credited in
        day = datetime.fromtimestamp(float(end), tz).date()
        per_day[day] = max(0.0, per_day[day] - float(seconds))
        per_session[str(sid)] = max(0.0, per_session[str(sid)] - float(seconds))
    day_list = [(first + timedelta(days=i), per_day.get(first + timedelta(days=i), 0.0)) for i in range(days)]
    summaries = [SessionSummary(str(r.id), str(r.topic_id), r.lesson_id, float(r.started_at),
                                None if r.ended_at is None else float(r.ended_at), per_session.get(str(r.id), 0.0),
                                int(r.samples_total), int(r.samples_verified)) for r in sessions]
    return History(day_list, summaries)
