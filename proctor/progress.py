"""Progress: what a student has been credited, per topic, per module and since a time.

Totals are derived from the ledger, never stored: the credited intervals minus what proctors voided
(`adjustments`, from `proctor.review`), never below zero, so a retried or voided write can never
leave a stale total behind.
"""

from __future__ import annotations

import math

from sqlalchemy import func, select

from proctor.credit_adjust import adjusted_by_module
from proctor.db import Database
from proctor.tables import adjustments as _ADJ
from proctor.tables import credited_intervals as _CI
from proctor.tables import live_sessions as _LS


async def _net_by_topic(db: Database, user_id: int) -> dict[tuple[str, str], float]:
    """(module_id, topic_id) → credited seconds net of adjustments, never below zero."""
    async with db.engine.connect() as conn:
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


async def credited_since(db: Database, user_id: int, since: float) -> float:
    """A student's credit from intervals ending at or after `since` (e.g. today's), minus the
    adjustments voiding time at or after it; never below zero."""
    return (await credited_since_by_user(db, [user_id], since)).get(user_id, 0.0)


async def credited_since_by_user(db: Database, user_ids: list[int], since: float) -> dict[int, float]:
    """`credited_since` for many students in two grouped queries (the proctors' session list)."""
    if not math.isfinite(since):
        raise ValueError(f"since must be finite, got {since}")
    since = float(since)
    if not user_ids:
        return {}
    async with db.engine.connect() as conn:
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


async def credited_by_topic(db: Database, user_id: int) -> dict[str, float]:
    """topic_id → credited seconds: the intervals minus voided adjustments, never below zero."""
    out: dict[str, float] = {}
    for (_module, topic), seconds in (await _net_by_topic(db, user_id)).items():
        out[topic] = out.get(topic, 0.0) + seconds
    return out


async def credited_by_module(db: Database, user_id: int) -> dict[str, float]:
    """module_id → the sum of its topics' net credited seconds (see `credited_by_topic`) plus the
    module's explicit adjustments (`proctor.credit_adjust`), never below zero."""
    out: dict[str, float] = {}
    for (module, _topic), seconds in (await _net_by_topic(db, user_id)).items():
        out[module] = out.get(module, 0.0) + seconds
    for module, seconds in (await adjusted_by_module(db, user_id)).items():
        out[module] = max(0.0, out.get(module, 0.0) + seconds)
    return out
