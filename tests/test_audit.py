"""The hash-chained audit log: appends, ledger events in the same transaction, tamper detection.

On SQLite and PostgreSQL (one private schema per test).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import delete, select, update

from proctor.audit import GENESIS, Audit, row_hash, verify_chain
from proctor.clock import FakeClock
from proctor.db import Database
from proctor.ledger import Ledger, UnknownSession
from proctor.students import Students
from proctor.tables import audit_log

from .databases import OpenDb

T0 = 1_700_000_000.0


async def _filled(db: Database, n: int = 5) -> Audit:
    clock = FakeClock(T0)
    log = Audit(db, clock)
    for i in range(n):
        await log.record("login_ok", i + 1, f"user:{i + 1}", {"ip": f"10.0.0.{i}", "n": i})
        clock.advance(1.25)
    return log


async def test_record_and_chain(open_db: OpenDb) -> None:
    db = await open_db()
    empty = await verify_chain(db)
    assert (empty.ok, empty.rows, empty.first_bad_id) == (True, 0, None)
    log = await _filled(db, 3)
    entries = list(reversed(await log.recent()))
    assert [e.id for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert entries[1].details == {"ip": "10.0.0.1", "n": 1} and entries[1].at == T0 + 1.25
    assert entries[2].hash == row_hash(
        entries[1].hash,
        id=3,
        at=T0 + 2.5,
        actor_user_id=3,
        action="login_ok",
        subject="user:3",
        details=json.dumps({"ip": "10.0.0.2", "n": 2}, sort_keys=True, separators=(",", ":")),
    )
    check = await verify_chain(db)
    assert (check.ok, check.rows, check.first_bad_id, check.problem) == (True, 3, None, None)
    assert await log.head() == (3, entries[2].hash)
    with pytest.raises(ValueError, match="unknown audit action"):
        await log.record("coffee_break", None, None)
    assert [e.id for e in await log.recent(actor=2)] == [2]


async def test_concurrent_appends_from_two_engines_keep_one_chain(open_db: OpenDb) -> None:
    db1, db2 = await open_db(), await open_db()
    a, b = Audit(db1, FakeClock(T0)), Audit(db2, FakeClock(T0 + 0.5))
    ids = await asyncio.gather(
        *(log.record("snapshot_viewed", i, f"session:{i}", {"i": i}) for i in range(15) for log in (a, b))
    )
    assert sorted(ids) == list(range(1, 31))
    check = await verify_chain(db1)
    assert check.ok and check.rows == 30


async def test_edited_row_is_found(open_db: OpenDb) -> None:
    db = await open_db()
    await _filled(db)
    async with db.engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.id == 3).values(details='{"ip":"1.2.3.4","n":2}'))
    check = await verify_chain(db)
    assert (check.ok, check.first_bad_id, check.rows) == (False, 3, 3)
    assert check.problem is not None and "hash" in check.problem


async def test_edited_row_with_recomputed_hash_breaks_the_next_link(open_db: OpenDb) -> None:
    db = await open_db()
    await _filled(db)
    async with db.engine.begin() as conn:
        r = (await conn.execute(select(audit_log).where(audit_log.c.id == 2))).one()
        forged = row_hash(
            r.prev_hash, id=2, at=r.at, actor_user_id=99, action=r.action, subject=r.subject, details=r.details
        )
        await conn.execute(update(audit_log).where(audit_log.c.id == 2).values(actor_user_id=99, hash=forged))
    check = await verify_chain(db)
    assert (check.ok, check.first_bad_id) == (False, 3)
    assert check.problem is not None and "prev_hash" in check.problem


async def test_deleted_row_is_found(open_db: OpenDb) -> None:
    db = await open_db()
    await _filled(db)
    async with db.engine.begin() as conn:
        await conn.execute(delete(audit_log).where(audit_log.c.id == 3))
    check = await verify_chain(db)
    assert (check.ok, check.first_bad_id) == (False, 4)
    assert check.problem is not None and "missing" in check.problem


async def test_deleted_first_row_is_found(open_db: OpenDb) -> None:
    db = await open_db()
    await _filled(db)
    async with db.engine.begin() as conn:
        await conn.execute(delete(audit_log).where(audit_log.c.id == 1))
    check = await verify_chain(db)
    assert (check.ok, check.first_bad_id) == (False, 2)


async def test_deleted_and_renumbered_row_is_found(open_db: OpenDb) -> None:
    db = await open_db()
    await _filled(db)
    async with db.engine.begin() as conn:
        await conn.execute(delete(audit_log).where(audit_log.c.id == 3))
        await conn.execute(update(audit_log).where(audit_log.c.id == 4).values(id=3))
        await conn.execute(update(audit_log).where(audit_log.c.id == 5).values(id=4))
    check = await verify_chain(db)
    assert (check.ok, check.first_bad_id) == (False, 3)


async def test_reordered_rows_are_found(open_db: OpenDb) -> None:
    db = await open_db()
    await _filled(db)
    cols = [c for c in audit_log.c if c.name != "id"]
    async with db.engine.begin() as conn:
        r2 = (await conn.execute(select(audit_log).where(audit_log.c.id == 2))).one()
        r4 = (await conn.execute(select(audit_log).where(audit_log.c.id == 4))).one()
        await conn.execute(update(audit_log).where(audit_log.c.id == 2).values({c: getattr(r4, c.name) for c in cols}))
        await conn.execute(update(audit_log).where(audit_log.c.id == 4).values({c: getattr(r2, c.name) for c in cols}))
    check = await verify_chain(db)
    assert (check.ok, check.first_bad_id) == (False, 2)


async def test_appends_continue_after_a_restart(open_db: OpenDb) -> None:
    db = await open_db()
    await _filled(db, 2)
    await db.aclose()
    db2 = await open_db()
    await Audit(db2, FakeClock(T0 + 9)).record("lockout", 1, "user:1", None)
    check = await verify_chain(db2)
    assert check.ok and check.rows == 3


# -- ledger events ------------------------------------------------------------------------------------


async def test_ledger_writes_audit_rows_in_the_same_transaction(open_db: OpenDb) -> None:
    db = await open_db()
    uid = await Students(db).add_student("CRO1", "Asha", None, None)
    ledger = Ledger(db)
    sid = await ledger.start_session(uid, "a-fema-1999", "m", 100.0)
    assert await ledger.append_interval(sid, 0, 100.0, 103.0)
    assert not await ledger.append_interval(sid, 0, 100.0, 103.0)  # retried: no second audit row
    await ledger.record_flag_raised(sid, "no_face", 104.0)
    await ledger.record_flag_raised(sid, "no_face", 104.0)
    await ledger.record_flag_ended(sid, "no_face", 104.0, 110.0)
    await ledger.record_flag_ended(sid, "no_face", 104.0, 111.0)
    await ledger.record_flag_ended(sid, "tab_hidden", 112.0, 113.0)  # raise never recorded
    await ledger.update_session_state(sid, "verified", "ok", 3, 2)  # not audited (every sample)
    assert await ledger.end_session(sid, 120.0, "client_closed")
    assert not await ledger.end_session(sid, 121.0, "again")
    other = await ledger.start_session(uid, "a-ibc-2016", "m", 130.0)
    assert await ledger.end_all_open(140.0, "server_restart") == [other]

    # Failed writes leave no audit row behind.
    with pytest.raises(UnknownSession):
        await ledger.append_interval(str(uuid.uuid4()), 0, 1.0, 2.0)
    with pytest.raises(UnknownSession):
        await ledger.record_flag_raised(str(uuid.uuid4()), "no_face", 1.0)

    rows = list(reversed(await Audit(db, FakeClock()).recent()))
    assert [(r.action, r.at, r.actor_user_id, r.subject) for r in rows] == [
        ("session_start", 100.0, uid, f"session:{sid}"),
        ("credit", 103.0, uid, f"session:{sid}"),
        ("flag_raised", 104.0, uid, f"session:{sid}"),
        ("flag_ended", 110.0, uid, f"session:{sid}"),
        ("flag_ended", 113.0, uid, f"session:{sid}"),
        ("session_end", 120.0, uid, f"session:{sid}"),
        ("session_start", 130.0, uid, f"session:{other}"),
        ("session_end", 140.0, uid, f"session:{other}"),
    ]
    assert rows[1].details == {"seq": 0, "start": 100.0, "end": 103.0, "seconds": 3.0}
    assert rows[0].details == {"topic_id": "a-fema-1999", "module_id": "m"}
    assert rows[5].details == {"reason": "client_closed"}
    assert (await verify_chain(db)).ok


async def test_concurrent_ledger_writers_keep_one_chain(open_db: OpenDb) -> None:
    db1, db2 = await open_db(), await open_db()
    uid = await Students(db1).add_student("CRO1", "Asha", None, None)
    l1, l2 = Ledger(db1), Ledger(db2)
    s1 = await l1.start_session(uid, "t1", "m", 0.0)
    s2 = await l2.start_session(uid, "t2", "m", 0.0)
    await asyncio.gather(
        *(l1.append_interval(s1, i, 3.0 * i, 3.0 * i + 3) for i in range(10)),
        *(l2.append_interval(s2, i, 3.0 * i, 3.0 * i + 3) for i in range(10)),
    )
    check = await verify_chain(db1)
    assert check.ok and check.rows == 22
