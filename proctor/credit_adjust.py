"""Explicit credit adjustments: an admin adds or removes a module's seconds, with a reason.

For corrections and transfers (credit earned elsewhere, a fault that cost a student time). Each
adjustment is one append-only `credit_adjustments` row plus a 'credit_adjusted' audit row in the
same transaction; the student sees it, with its reason, on their page. Progress per module and SPMT
eligibility are the confirmed credited intervals, minus voided time, plus these (never below zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.tables import credit_adjustments as _CA
from proctor.tables import users as _USERS

MAX_REASON_LENGTH = 500
# One adjustment moves at most this much: a typo of a few zeros must not grant a year of credit.
MAX_ABS_SECONDS = 1000 * 3600


class UnknownStudent(LookupError):
    """No student with that id or SRN."""


@dataclass(frozen=True)
class CreditAdjustment:
    id: int
    user_id: int
    module_id: str
    seconds: float  # positive grants, negative removes
    reason: str
    by_user_id: int | None  # the admin; None when made from the command line
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "module_id": self.module_id, "seconds": self.seconds, "reason": self.reason,
                "at": self.at}


def _row(r: Any) -> CreditAdjustment:
    return CreditAdjustment(int(r.id), int(r.user_id), str(r.module_id), float(r.seconds), str(r.reason),
                            None if r.by_user_id is None else int(r.by_user_id), float(r.at))


def check_adjustment(seconds: float, reason: str) -> tuple[float, str]:
    """The cleaned (seconds, reason), or ValueError saying what is wrong."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError("seconds must be a finite number")
    try:
        seconds = float(seconds)
    except OverflowError:
        raise ValueError(f"one adjustment moves at most {MAX_ABS_SECONDS} seconds") from None
    if not math.isfinite(seconds):
        raise ValueError("seconds must be a finite number")
    if seconds == 0:
        raise ValueError("seconds must not be zero")
    if abs(seconds) > MAX_ABS_SECONDS:
        raise ValueError(f"one adjustment moves at most {MAX_ABS_SECONDS} seconds")
    reason = reason.strip()
    if not reason:
        raise ValueError("a reason is required: the student sees it")
    if len(reason) > MAX_REASON_LENGTH:
        raise ValueError(f"reason must be at most {MAX_REASON_LENGTH} characters, got {len(reason)}")
    return float(seconds), reason


async def adjust(db: Database, clock: Clock, *, user_id: int, module_id: str, seconds: float, reason: str,
                 by_user_id: int | None) -> CreditAdjustment:
    """Record one adjustment; the caller checked that the module exists. UnknownStudent, ValueError."""
    seconds, reason = check_adjustment(seconds, reason)
    now = clock.now()
    async with audit.write_transaction(db) as conn:
        role = (await conn.execute(select(_USERS.c.role).where(_USERS.c.id == user_id))).scalar_one_or_none()
        if role != "student":
            raise UnknownStudent(f"no student with id {user_id}")
        new_id = (
            await conn.execute(
                _CA.insert()
                .values(user_id=user_id, module_id=module_id, seconds=seconds, reason=reason, by_user_id=by_user_id,
                        at=now)
                .returning(_CA.c.id)
            )
        ).scalar_one()
        await audit.append(conn, at=now, action="credit_adjusted", actor=by_user_id, subject=f"user:{user_id}",
                           details={"adjustment_id": int(new_id), "module_id": module_id, "seconds": seconds,
                                    "reason": reason})
    return CreditAdjustment(int(new_id), user_id, module_id, seconds, reason, by_user_id, now)


async def adjustments_of(db: Database, user_id: int) -> list[CreditAdjustment]:
    """A student's explicit adjustments, newest first."""
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(select(_CA).where(_CA.c.user_id == user_id).order_by(_CA.c.at.desc(), _CA.c.id.desc()))
        ).all()
    return [_row(r) for r in rows]


async def adjusted_by_module(db: Database, user_id: int) -> dict[str, float]:
    """module_id → the signed sum of a student's explicit adjustments."""
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(_CA.c.module_id, func.sum(_CA.c.seconds)).where(_CA.c.user_id == user_id)
                .group_by(_CA.c.module_id)
            )
        ).all()
    return {str(m): float(s or 0.0) for m, s in rows}
