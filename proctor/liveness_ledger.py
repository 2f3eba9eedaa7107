"""The ledger's liveness writes and reads: provisional intervals, confirmations, voids, challenges.

`credited_intervals` keeps meaning *confirmed* credit (progress, exports and SPMT eligibility read
only it). Provisional credit goes to `provisional_intervals`; a passed challenge copies the pending
rows into `credited_intervals` under the same `(session_id, seq)`, so a retried confirmation is a
no-op; a failed one appends a `credit_voids` row with its reason. No row is ever updated or deleted,
except a challenge's result columns, filled once when it is decided.

Writes for a session that has ended are refused (nothing is written): credit cannot arrive after
the end was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.credit import CreditedInterval
from proctor.db import Database
from proctor.liveness import Challenge
from proctor.provisional import LivenessUpdate
from proctor.tables import credit_voids as _CV
from proctor.tables import credited_intervals as _CI
from proctor.tables import live_sessions as _LS
from proctor.tables import liveness_challenges as _LC
from proctor.tables import provisional_intervals as _PI


@dataclass(frozen=True)
class ChallengeView:
    """One challenge as the proctor's timeline lists it."""

    challenge_id: str
    action: str
    attempt: int
    issued_at: float
    deadline: float
    passed: bool | None
    resolved_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {"challenge_id": self.challenge_id, "action": self.action, "attempt": self.attempt,
                "issued_at": self.issued_at, "deadline": self.deadline, "passed": self.passed,
                "resolved_at": self.resolved_at}


class LivenessLedger:
    """Writes one `LivenessUpdate` in one transaction, with its audit rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _insert_ignore(self, table: Any, values: dict[str, Any], keys: list[str]) -> Any:
        if self._db.dialect == "postgresql":
            pg = postgresql.insert(table).values(**values)
            return pg.on_conflict_do_nothing(index_elements=keys).returning(table.c.id)
        lite = sqlite.insert(table).values(**values)
        return lite.on_conflict_do_nothing(index_elements=keys).returning(table.c.id)

    async def write(self, session_id: str, live: LivenessUpdate) -> float:
        """Persist an update; returns the seconds newly confirmed (0 when refused or duplicate)."""
        if live.empty:
            return 0.0
        confirmed_s = 0.0
        async with audit.write_transaction(self._db) as conn:
            row = (await conn.execute(select(_LS.c.user_id, _LS.c.ended_at).where(_LS.c.id == session_id))).first()
            if row is None or row.ended_at is not None:
                return 0.0  # unknown or ended: refuse, never credit after the end
            owner = int(row.user_id)
            if live.provisional is not None:
                await self._provisional(conn, session_id, live.provisional)
            for c in live.confirmed:
                confirmed_s += await self._confirm(conn, session_id, owner, c)
            if live.void is not None:
                v = live.void
                inserted = (await conn.execute(self._insert_ignore(
                    _CV, {"session_id": session_id, "up_to_seq": v.up_to_seq, "seconds": v.seconds,
                          "reason": v.reason, "at": v.at}, ["session_id", "up_to_seq"]))).first()
                if inserted is not None:
                    await audit.append(conn, at=v.at, action="credit_voided", actor=owner,
                                       subject=f"session:{session_id}",
                                       details={"up_to_seq": v.up_to_seq, "seconds": v.seconds, "reason": v.reason})
            for r in live.resolved:
                await conn.execute(update(_LC).where(_LC.c.challenge_id == r.challenge.challenge_id,
                                                     _LC.c.passed.is_(None))
                                   .values(passed=r.passed, resolved_at=r.at, yaw=r.yaw))
            if live.issued is not None:
                await self._issued(conn, session_id, live.issued)
        return confirmed_s

    async def _provisional(self, conn: AsyncConnection, session_id: str, c: CreditedInterval) -> None:
        await conn.execute(self._insert_ignore(
            _PI, {"session_id": session_id, "seq": c.seq, "start_at": c.start, "end_at": c.end,
                  "seconds": c.seconds, "created_at": c.end}, ["session_id", "seq"]))

    async def _confirm(self, conn: AsyncConnection, session_id: str, owner: int, c: CreditedInterval) -> float:
        await self._provisional(conn, session_id, c)  # a confirmation never references a missing row
        inserted = (await conn.execute(self._insert_ignore(
            _CI, {"session_id": session_id, "seq": c.seq, "start_at": c.start, "end_at": c.end,
                  "seconds": c.seconds, "created_at": c.end}, ["session_id", "seq"]))).first()
        if inserted is None:
            return 0.0
        await audit.append(conn, at=c.end, action="credit", actor=owner, subject=f"session:{session_id}",
                           details={"seq": c.seq, "start": c.start, "end": c.end, "seconds": c.seconds,
                                    "confirmed_by": "liveness"})
        return c.seconds

    async def _issued(self, conn: AsyncConnection, session_id: str, ch: Challenge) -> None:
        await conn.execute(self._insert_ignore(
            _LC, {"session_id": session_id, "challenge_id": ch.challenge_id, "action": ch.action.value,
                  "attempt": ch.attempt, "issued_at": ch.issued_at, "deadline": ch.deadline,
                  "baseline": ch.baseline}, ["challenge_id"]))


async def provisional_seconds(db: Database, session_id: str) -> float:
    """Seconds earned and neither confirmed nor voided (0 for an ended session)."""
    confirmed = select(_CI.c.seq).where(_CI.c.session_id == session_id)
    voided = select(func.coalesce(func.max(_CV.c.up_to_seq), -1)).where(_CV.c.session_id == session_id)
    live = select(_LS.c.id).where(_LS.c.id == session_id, _LS.c.ended_at.is_(None))
    # An ended session has nothing pending: its end settled it, or (a crash) nothing ever confirmed it.
    query = select(func.coalesce(func.sum(_PI.c.seconds), 0.0)).where(
        _PI.c.session_id == session_id, _PI.c.session_id.in_(live), _PI.c.seq.not_in(confirmed),
        _PI.c.seq > voided.scalar_subquery())
    async with db.engine.connect() as conn:
        return float((await conn.execute(query)).scalar_one())


async def voided_seconds(db: Database, session_id: str) -> float:
    async with db.engine.connect() as conn:
        q = select(func.coalesce(func.sum(_CV.c.seconds), 0.0)).where(_CV.c.session_id == session_id)
        return float((await conn.execute(q)).scalar_one())


async def challenges(db: Database, session_id: str) -> list[ChallengeView]:
    """The session's challenges in the order issued, for the timeline."""
    q = select(_LC).where(_LC.c.session_id == session_id).order_by(_LC.c.issued_at, _LC.c.attempt)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(q)).all()
    return [ChallengeView(r.challenge_id, r.action, int(r.attempt), float(r.issued_at), float(r.deadline),
                          None if r.passed is None else bool(r.passed), r.resolved_at) for r in rows]
