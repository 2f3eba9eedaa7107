"""Outgoing SMS: the sender interface and the default sender, a table read by `proctor outbox`.

No SMS gateway is built in: `OutboxSender` stores each message in the `outbox` table, where an
operator (or a gateway relay) reads it. A real gateway is any object with the `SmsSender` shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from proctor.clock import Clock
from proctor.db import Database
from proctor.tables import outbox as _OUTBOX
from proctor.tables import users as _USERS


class SmsSender(Protocol):
    async def send(self, mobile: str, text: str, user_id: int | None) -> None:
        """Deliver (or queue) one text message; raise if it could not be accepted."""
        ...


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    srn: str | None
    mobile: str
    text: str
    created_at: float


class OutboxSender:
    """The default `SmsSender`: one row per message in the `outbox` table."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def send(self, mobile: str, text: str, user_id: int | None) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(
                _OUTBOX.insert().values(user_id=user_id, mobile=mobile, text=text, created_at=self._clock.now())
            )


async def list_outbox(db: Database, srn: str | None = None, *, limit: int = 100) -> list[OutboxMessage]:
    """Stored messages, newest first; only those to the student with `srn` when given."""
    query = (
        select(_OUTBOX.c.id, _USERS.c.srn, _OUTBOX.c.mobile, _OUTBOX.c.text, _OUTBOX.c.created_at)
        .select_from(_OUTBOX.outerjoin(_USERS, _OUTBOX.c.user_id == _USERS.c.id))
        .order_by(_OUTBOX.c.id.desc())
        .limit(max(1, limit))
    )
    if srn is not None:
        query = query.where(_USERS.c.srn == srn.strip().upper())  # as accounts.normalize_srn
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [OutboxMessage(int(r.id), r.srn, r.mobile, r.text, float(r.created_at)) for r in rows]
