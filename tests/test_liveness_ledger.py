"""The liveness ledger on SQLite and PostgreSQL: provisional, confirmed by copy, voided by a row."""

from __future__ import annotations

from sqlalchemy import func, select

from proctor.credit import CreditedInterval
from proctor.db import Database
from proctor.ledger import Ledger
from proctor.liveness import Action, Challenge
from proctor.liveness_ledger import LivenessLedger, challenges, provisional_seconds, voided_seconds
from proctor.progress import credited_by_module
from proctor.provisional import LivenessUpdate, Resolution, Void
from proctor.students import Students
from proctor.tables import credited_intervals, provisional_intervals


async def test_confirm_copies_void_appends_and_ended_sessions_refuse(db: Database) -> None:
    uid = await Students(db).add_student("CRO0000001", "Asha Rao", None, None)
    ledger, live = Ledger(db), LivenessLedger(db)
    sid = await ledger.start_session(uid, "t1", "m1", 100.0)
    ch = Challenge("c" * 32, Action.TURN_LEFT, 101.0, 107.0, 0.02, 1)
    a, b = CreditedInterval(sid, 1, 100.0, 103.0), CreditedInterval(sid, 2, 103.0, 106.0)
    assert await live.write(sid, LivenessUpdate(provisional=a, issued=ch)) == 0
    assert await provisional_seconds(db, sid) == 3.0
    update = LivenessUpdate(provisional=b, resolved=[Resolution(ch, True, 106.0, 0.4)], confirmed=[a, b])
    assert await live.write(sid, update) == 6.0
    assert await live.write(sid, update) == 0  # a retried confirmation credits nothing twice
    assert await provisional_seconds(db, sid) == 0 and (await credited_by_module(db, uid))["m1"] == 6.0
    c = CreditedInterval(sid, 3, 106.0, 109.0)
    await live.write(sid, LivenessUpdate(provisional=c))
    await live.write(sid, LivenessUpdate(void=Void(3, 3.0, "liveness_failed", 110.0)))
    assert await provisional_seconds(db, sid) == 0 and await voided_seconds(db, sid) == 3.0
    assert (await credited_by_module(db, uid))["m1"] == 6.0  # the void deleted nothing and credited nothing
    [view] = await challenges(db, sid)
    assert view.passed is True and view.resolved_at == 106.0
    await ledger.end_session(sid, 111.0, "ended_by_student")
    late = CreditedInterval(sid, 4, 109.0, 112.0)
    assert await live.write(sid, LivenessUpdate(provisional=late, confirmed=[late])) == 0
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(credited_intervals))).scalar_one() == 2
        assert (await conn.execute(select(func.count()).select_from(provisional_intervals))).scalar_one() == 3
