"""Announced maintenance windows: the page warns ahead and the server refuses logins during one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from proctor.clock import Clock
from proctor.db import Database
from proctor.tables import maintenance_windows as _MW

MAX_MESSAGE_LENGTH = 500
DEFAULT_UPCOMING_S = 7 * 86400.0


@dataclass(frozen=True)
class Window:
    id: int
    start_at: float
    end_at: float
    message: str
    created_at: float


def _window(r: Any) -> Window:
    return Window(int(r.id), float(r.start_at), float(r.end_at), str(r.message), float(r.created_at))


class Maintenance:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, start: float, end: float, message: str) -> Window:
        """Announce a window [start, end); ValueError unless end > start and 1–500 characters of message."""
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ValueError("start and end must be finite epoch seconds")
        if end <= start:
            raise ValueError(f"end ({end}) must be after start ({start})")
        message = message.strip()
        if not message:
            raise ValueError("message must not be empty")
        if len(message) > MAX_MESSAGE_LENGTH:
            raise ValueError(f"message must be at most {MAX_MESSAGE_LENGTH} characters, got {len(message)}")
        now = self._clock.now()
        async with self._db.engine.begin() as conn:
            new_id = (
                await conn.execute(
                    _MW.insert()
                    .values(start_at=float(start), end_at=float(end), message=message, created_at=now)
                    .returning(_MW.c.id)
                )
            ).scalar_one()
        return Window(int(new_id), float(start), float(end), message, now)

    async def active(self) -> Window | None:
        """The window in force now (the earliest-started one if several overlap), else None."""
        now = self._clock.now()
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(_MW)
                    .where(_MW.c.start_at <= now, _MW.c.end_at > now)
                    .order_by(_MW.c.start_at, _MW.c.id)
                    .limit(1)
                )
            ).first()
        return None if row is None else _window(row)

    async def upcoming(self, within_s: float = DEFAULT_UPCOMING_S) -> list[Window]:
        """Windows starting after now and within `within_s`, soonest first."""
        now = self._clock.now()
        async with self._db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(_MW)
                    .where(_MW.c.start_at > now, _MW.c.start_at <= now + within_s)
                    .order_by(_MW.c.start_at, _MW.c.id)
                )
            ).all()
        return [_window(r) for r in rows]

    async def list_all(self) -> list[Window]:
        """Every window, past ones included, by start time."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(_MW).order_by(_MW.c.start_at, _MW.c.id))).all()
        return [_window(r) for r in rows]

    async def remove(self, window_id: int) -> bool:
        """Delete a window; False if there was none with that id."""
        async with self._db.engine.begin() as conn:
            return (await conn.execute(delete(_MW).where(_MW.c.id == window_id))).rowcount > 0
