"""Flag snapshots: stored once per flag, hidden past retention, purged for good (bytes gone on SQLite).

On SQLite and PostgreSQL (PROCTOR_TEST_PG, one private schema per test); time from a FakeClock.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proctor.audit import Audit
from proctor.clock import FakeClock
from proctor.db import Database
from proctor.evidence import MAX_SNAPSHOT_BYTES, Evidence, UnknownFlag
from proctor.ledger import Ledger
from proctor.students import Students
from proctor.tables import snapshots

from .databases import OpenDb

T0 = 1_700_000_000.0
DAY = 86400.0


def _jpeg(size: int = 64) -> bytes:
    return b"\xff\xd8\xff\xe0" + secrets.token_bytes(size)


async def _flags(db: Database, n: int) -> tuple[str, list[int]]:
    uid = await Students(db).add_student("CRO1", "Asha", None, None)
    ledger = Ledger(db)
    sid = await ledger.start_session(uid, "a-fema-1999", "m", T0)
    return sid, [await ledger.record_flag_raised(sid, "no_face", T0 + i) for i in range(n)]


async def _rows(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(snapshots))).scalar_one())


async def test_store_once_per_flag(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0)
    sid, (f1, f2) = await _flags(db, 2)
    evidence = Evidence(db, clock)
    first, second = _jpeg(), _jpeg()
    assert await evidence.store(f1, sid, first) is True
    assert await evidence.store(f1, sid, second) is False  # the frame that raised it stays
    assert await evidence.get(f1) == first
    assert await evidence.get(f2) is None
    with pytest.raises(ValueError, match="JPEG"):
        await evidence.store(f2, sid, b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="at most"):
        await evidence.store(f2, sid, _jpeg(MAX_SNAPSHOT_BYTES))
    with pytest.raises(ValueError, match="session"):
        await evidence.store(f2, str(uuid.uuid4()), _jpeg())
    with pytest.raises(UnknownFlag):
        await evidence.store(f2 + 1000, sid, _jpeg())
    assert await _rows(db) == 1


async def test_views_are_audited(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0)
    sid, (f1, f2) = await _flags(db, 2)
    evidence = Evidence(db, clock)
    jpeg = _jpeg()
    await evidence.store(f1, sid, jpeg)
    clock.advance(3)
    assert await evidence.get(f1, viewed_by=42) == jpeg
    assert await evidence.get(f2, viewed_by=42) is None  # nothing shown: nothing audited
    [row] = await Audit(db, clock).recent(action="snapshot_viewed")
    assert (row.actor_user_id, row.subject, row.at, row.details) == (42, f"flag:{f1}", T0 + 3, {"session_id": sid})


async def test_retention_hides_then_purge_deletes(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0)
    sid, (old, new) = await _flags(db, 2)
    evidence = Evidence(db, clock)  # 7 days
    await evidence.store(old, sid, _jpeg())
    clock.advance(2 * DAY)
    await evidence.store(new, sid, _jpeg())
    clock.advance(5 * DAY - 1)
    assert await evidence.get(old) is not None
    assert await evidence.purge() == 0
    clock.advance(1)  # `old` is exactly 7 days old: past retention
    assert await evidence.get(old) is None and await evidence.get(old, viewed_by=1) is None
    assert await evidence.get(new) is not None
    assert await _rows(db) == 2  # hidden before any purge ran
    assert await evidence.purge() == 1
    assert await _rows(db) == 1
    assert await evidence.purge() == 0
    clock.advance(2 * DAY)
    assert await evidence.purge() == 1 and await _rows(db) == 0
    with pytest.raises(ValueError):
        Evidence(db, clock, retention_s=0)


def _file_bytes(path: Path) -> bytes:
    out = b""
    for suffix in ("", "-wal", "-journal"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            out += p.read_bytes()
    return out


@pytest.mark.parametrize("size", [200, 20_000])  # inline in a b-tree page; spread over overflow pages
async def test_sqlite_purge_erases_the_bytes_from_the_file(tmp_path: Path, size: int) -> None:
    path = tmp_path / "p.db"
    db = Database.from_url(f"sqlite:///{path}")
    try:
        await db.migrate()
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar() == 1
        clock = FakeClock(T0)
        sid, (doomed, kept) = await _flags(db, 2)
        evidence = Evidence(db, clock, retention_s=DAY)
        doomed_jpeg, kept_jpeg = _jpeg(size), _jpeg(size)
        await evidence.store(doomed, sid, doomed_jpeg)
        clock.advance(DAY / 2)
        await evidence.store(kept, sid, kept_jpeg)
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        probe = doomed_jpeg[-48:]  # random bytes: found only where this snapshot is stored
        assert probe in _file_bytes(path)  # the check can see stored bytes

        clock.advance(DAY / 2)
        assert await evidence.purge() == 1  # checkpoints the WAL itself
        data = _file_bytes(path)
        assert probe not in data and doomed_jpeg[4:36] not in data
        assert kept_jpeg[-48:] in data and await evidence.get(kept) == kept_jpeg
    finally:
        await db.aclose()
