"""Ledger and database tests, on SQLite and on PostgreSQL (PROCTOR_TEST_PG, default local server)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, select

from proctor.db import Database, DatabaseError, normalize_url
from proctor.ledger import Ledger, SessionEnded, UnknownSession
from proctor.progress import credited_by_module, credited_by_topic
from proctor.session_records import session_record
from proctor.students import Students
from proctor.tables import audit_log, credited_intervals, metadata

from .databases import OpenDb


async def _student(db: Database, srn: str = "CRO0000001") -> int:
    return await Students(db).add_student(srn, "Asha Rao", "+91 90000 00000", None)


# -- URLs and schema ----------------------------------------------------------------------------


def test_url_mapping() -> None:
    assert normalize_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalize_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalize_url("postgresql://u@h/d").drivername == "postgresql+asyncpg"
    assert normalize_url("postgresql+asyncpg://u@h/d").drivername == "postgresql+asyncpg"
    with pytest.raises(DatabaseError, match="unsupported"):
        normalize_url("mysql://u@h/d")


async def test_migrate_is_idempotent(open_db: OpenDb) -> None:
    db = await open_db()
    first = await db.current_revision()
    await db.migrate()
    await db.migrate()
    assert first is not None and await db.current_revision() == first

    def tables(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    async with db.engine.connect() as conn:
        assert set(metadata.tables) <= await conn.run_sync(tables)


async def test_schema_matches_metadata(open_db: OpenDb) -> None:
    db = await open_db()

    def diffs(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diffs) == []


async def test_sqlite_pragmas_and_parent_dir(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "p.db"
    db = Database.from_url(f"sqlite:///{path}")
    try:
        await db.migrate()
        assert path.exists()
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await db.aclose()


# -- intervals ------------------------------------------------------------------------------------


async def test_duplicate_seq_is_a_noop(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    sid = await ledger.start_session(await _student(db), "a-fema-1999", "a-corporate-economic-laws", 1000.0)
    assert await ledger.append_interval(sid, 0, 1000.0, 1003.0) is True
    assert await ledger.append_interval(sid, 1, 1003.0, 1006.5) is True
    # A retry of seq 1, even with different numbers, changes nothing.
    assert await ledger.append_interval(sid, 1, 1003.0, 1006.5) is False
    assert await ledger.append_interval(sid, 1, 1003.0, 1099.0) is False
    rec = await session_record(db, sid)
    assert rec is not None and rec.credited_seconds == pytest.approx(6.5)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(credited_intervals.c.seq))).scalars().all()
    assert sorted(rows) == [0, 1]


async def test_bad_intervals_rejected(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    sid = await ledger.start_session(await _student(db), "a-fema-1999", "a-corporate-economic-laws", 0.0)
    with pytest.raises(ValueError):
        await ledger.append_interval(sid, 0, 5.0, 5.0)
    with pytest.raises(ValueError):
        await ledger.append_interval(sid, 0, 5.0, 4.0)
    with pytest.raises(ValueError):
        await ledger.append_interval(sid, 0, 5.0, float("nan"))
    with pytest.raises(UnknownSession):
        await ledger.append_interval(str(uuid.uuid4()), 0, 1.0, 2.0)
    # The failed attempts left nothing behind; seq 0 is still free.
    assert await ledger.append_interval(sid, 0, 1.0, 2.0) is True


async def test_credited_totals_are_derived_from_intervals(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    asha, ravi = await _student(db, "CRO1"), await _student(db, "CRO2")
    mod_a = "a-corporate-economic-laws"
    s1 = await ledger.start_session(asha, "a-fema-1999", mod_a, 0.0)
    s2 = await ledger.start_session(asha, "a-ibc-2016", mod_a, 100.0)
    s3 = await ledger.start_session(asha, "a-fema-1999", mod_a, 200.0)
    s4 = await ledger.start_session(asha, "b-divisional-transfer-pricing", "b-strategic", 300.0)
    s5 = await ledger.start_session(ravi, "a-fema-1999", mod_a, 0.0)
    for sid, base in ((s1, 0.0), (s2, 100.0), (s3, 200.0), (s4, 300.0), (s5, 0.0)):
        await ledger.append_interval(sid, 0, base, base + 3.0)
        await ledger.append_interval(sid, 1, base + 3.0, base + 5.0)
    await ledger.append_interval(s1, 0, 0.0, 3.0)  # retried: not counted twice

    assert await credited_by_topic(db, asha) == {
        "a-fema-1999": pytest.approx(10.0),
        "a-ibc-2016": pytest.approx(5.0),
        "b-divisional-transfer-pricing": pytest.approx(5.0),
    }
    assert await credited_by_module(db, asha) == {mod_a: pytest.approx(15.0), "b-strategic": 5.0}
    assert await credited_by_topic(db, ravi) == {"a-fema-1999": pytest.approx(5.0)}
    assert await credited_by_topic(db, ravi + 1000) == {}


# -- session lifecycle ----------------------------------------------------------------------------


async def test_an_ended_session_takes_no_more_intervals_or_samples(open_db: OpenDb) -> None:
    """Another node ended it (or took it over): its old node must not go on crediting it."""
    db = await open_db()
    ledger = Ledger(db)
    sid = await ledger.start_session(await _student(db), "a-fema-1999", "a-corporate-economic-laws", 0.0)
    assert await ledger.append_interval(sid, 0, 0.0, 3.0)
    await ledger.record_sample(sid, 3.0, "ok", 0.9)
    assert await ledger.end_session(sid, 4.0, "replaced")
    with pytest.raises(SessionEnded) as refused:
        await ledger.append_interval(sid, 1, 3.0, 6.0)  # ends after ended_at
    assert (refused.value.ended_at, refused.value.reason) == (4.0, "replaced")
    with pytest.raises(SessionEnded):
        await ledger.append_interval(sid, 2, 3.0, 3.5)  # inside the session, but it has ended
    with pytest.raises(SessionEnded):
        await ledger.record_sample(sid, 6.0, "ok", 0.9)
    rec = await session_record(db, sid)
    assert rec is not None and rec.credited_seconds == pytest.approx(3.0) and rec.samples_total == 0


async def test_a_proctor_who_ends_a_session_is_its_audited_actor(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    student = await _student(db)
    sid = await ledger.start_session(student, "a-fema-1999", "a-corporate-economic-laws", 0.0)
    assert await ledger.end_session(sid, 5.0, "ended_by_proctor", by=student + 100)
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(audit_log).where(audit_log.c.action == "session_end"))).one()
    assert row.actor_user_id == student + 100
    assert json.loads(row.details) == {"reason": "ended_by_proctor", "by": student + 100}


async def test_a_starting_node_ends_only_sessions_that_stopped_sampling(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    dead = await ledger.start_session(await _student(db, "S100"), "t", "m", 10.0)  # its node died at 40
    await ledger.record_sample(dead, 40.0, "ok", 0.9)
    live = await ledger.start_session(await _student(db, "S101"), "t", "m", 10.0)  # another node streams it
    await ledger.record_sample(live, 95.0, "ok", 0.9)
    quiet = await ledger.start_session(await _student(db, "S102"), "t", "m", 20.0)  # never sampled
    assert sorted(await ledger.end_stale_open(100.0, 15.0, "server_restart")) == sorted([dead, quiet])
    assert (await session_record(db, live)).ended_at is None


async def test_end_session_is_idempotent(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    sid = await ledger.start_session(await _student(db), "a-fema-1999", "a-corporate-economic-laws", 10.0)
    assert await ledger.end_session(sid, 50.0, "client_closed") is True
    assert await ledger.end_session(sid, 90.0, "again") is False
    assert await ledger.end_session(str(uuid.uuid4()), 90.0, "unknown") is False
    rec = await session_record(db, sid)
    assert rec is not None
    assert (rec.ended_at, rec.end_reason) == (50.0, "client_closed")
    assert await session_record(db, str(uuid.uuid4())) is None


async def test_end_open_sessions_for_user_and_all(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    asha, ravi = await _student(db, "CRO1"), await _student(db, "CRO2")
    old = await ledger.start_session(asha, "a-fema-1999", "m", 0.0)
    await ledger.end_session(old, 5.0, "done")
    a1 = await ledger.start_session(asha, "a-fema-1999", "m", 10.0)
    a2 = await ledger.start_session(asha, "a-ibc-2016", "m", 11.0)
    r1 = await ledger.start_session(ravi, "a-fema-1999", "m", 12.0)
    await ledger.record_flag_raised(r1, "no_face", 13.0)

    assert sorted(await ledger.end_open_sessions_for_user(asha, 20.0, "replaced")) == sorted([a1, a2])
    assert await ledger.end_open_sessions_for_user(asha, 21.0, "replaced") == []
    assert await ledger.end_all_open(30.0, "server_restart") == [r1]
    assert await ledger.end_all_open(31.0, "server_restart") == []

    rec_old, rec_r1 = await session_record(db, old), await session_record(db, r1)
    assert rec_old is not None and (rec_old.ended_at, rec_old.end_reason) == (5.0, "done")
    assert rec_r1 is not None and (rec_r1.ended_at, rec_r1.end_reason) == (30.0, "server_restart")
    # A flag left open by a crash is closed with its session.
    assert [(f.kind, f.started_at, f.ended_at) for f in rec_r1.flags] == [("no_face", 13.0, 30.0)]


async def test_state_and_flags(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    sid = await ledger.start_session(await _student(db), "a-fema-1999", "m", 0.0)
    rec = await session_record(db, sid)
    assert rec is not None and (rec.state, rec.reason, rec.samples_total, rec.samples_verified) == (
        "unverified",
        "not_started",
        0,
        0,
    )
    await ledger.update_session_state(sid, "verified", "ok", 10, 9)
    await ledger.record_flag_raised(sid, "mismatch", 3.0)
    await ledger.record_flag_raised(sid, "mismatch", 3.0)  # retried: no duplicate
    await ledger.record_flag_raised(sid, "tab_hidden", 4.0)
    await ledger.record_flag_ended(sid, "mismatch", 3.0, 9.0)
    await ledger.record_flag_ended(sid, "mismatch", 3.0, 12.0)  # already ended: unchanged
    await ledger.record_flag_ended(sid, "no_face", 20.0, 26.0)  # raise never recorded
    rec = await session_record(db, sid)
    assert rec is not None
    assert (rec.state, rec.reason, rec.samples_total, rec.samples_verified) == ("verified", "ok", 10, 9)
    assert [(f.kind, f.started_at, f.ended_at) for f in rec.flags] == [
        ("mismatch", 3.0, 9.0),
        ("tab_hidden", 4.0, None),
        ("no_face", 20.0, 26.0),
    ]
    with pytest.raises(UnknownSession):
        await ledger.update_session_state(str(uuid.uuid4()), "verified", "ok", 1, 1)
    with pytest.raises(UnknownSession):
        await ledger.record_flag_raised(str(uuid.uuid4()), "no_face", 1.0)


async def test_data_survives_restart(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    user = await _student(db)
    sid = await ledger.start_session(user, "a-fema-1999", "a-corporate-economic-laws", 0.0)
    await ledger.append_interval(sid, 0, 0.0, 3.0)
    await ledger.append_interval(sid, 1, 3.0, 6.0)
    await ledger.record_flag_raised(sid, "no_face", 6.0)
    await db.aclose()

    db2 = await open_db()  # same database, new engine: a server restart
    ledger2 = Ledger(db2)
    assert await ledger2.end_all_open(100.0, "server_restart") == [sid]
    rec = await session_record(db2, sid)
    assert rec is not None and rec.credited_seconds == pytest.approx(6.0)
    with pytest.raises(SessionEnded):  # ended: the ledger takes no more credit for it
        await ledger2.append_interval(sid, 1, 3.0, 6.0)
    assert await credited_by_topic(db2, user) == {"a-fema-1999": pytest.approx(6.0)}


_KILLED_WRITER = """
import asyncio, os, signal, sys
from proctor.db import Database
from proctor.ledger import Ledger
from proctor.students import Students

async def main(url):
    db = Database.from_url(url)
    await db.migrate()
    uid = await Students(db).add_student("CRO9", "K", None, None)
    ledger = Ledger(db)
    sid = await ledger.start_session(uid, "a-fema-1999", "m", 0.0)
    await ledger.append_interval(sid, 0, 0.0, 3.0)
    print(sid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint

asyncio.run(main(sys.argv[1]))
"""


async def test_committed_interval_survives_kill_9(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _KILLED_WRITER, url, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == -9, err.decode()
    sid = out.decode().strip()
    db = Database.from_url(url)
    try:
        await db.migrate()
        rec = await session_record(db, sid)
        assert rec is not None and rec.credited_seconds == pytest.approx(3.0) and rec.ended_at is None
    finally:
        await db.aclose()
