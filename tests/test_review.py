"""Flag review, voided credit, the session timeline and enrolment approvals.

On SQLite and PostgreSQL (PROCTOR_TEST_PG, one private schema per test); time from a FakeClock.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, select

from proctor.audit import Audit, verify_chain
from proctor.clock import FakeClock
from proctor.db import Database, alembic_config
from proctor.evidence import Evidence
from proctor.ledger import Ledger, UnknownSession
from proctor.progress import credited_by_module, credited_by_topic, credited_since, credited_since_by_user
from proctor.review import Review, ReviewConflict, UnknownFlag
from proctor.session_records import adjustments_for_user, session_record, session_timeline
from proctor.students import PendingEnrollment, Students, UnknownUser
from proctor.tables import adjustments, flags, reference_embeddings, reference_photos

from .databases import OpenDb

T0 = 1_700_000_000.0
JPEG = b"\xff\xd8\xff\xe0" + b"frame" * 20
TOPIC, MODULE = "a-fema-1999", "a-corporate-economic-laws"


async def _student(db: Database, srn: str = "CRO1", name: str = "Asha Rao") -> int:
    return await Students(db).add_student(srn, name, None, None)


async def _session_with_credit(db: Database, user: int, spans: list[tuple[float, float]], topic: str = TOPIC) -> str:
    ledger = Ledger(db)
    sid = await ledger.start_session(user, topic, MODULE, T0 + spans[0][0])
    for seq, (a, b) in enumerate(spans):
        assert await ledger.append_interval(sid, seq, T0 + a, T0 + b)
    return sid


async def _count(db: Database, table: Any) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


# -- flag ids -----------------------------------------------------------------------------------------


async def test_flag_ids_are_stable_and_idempotent(open_db: OpenDb) -> None:
    db = await open_db()
    ledger = Ledger(db)
    sid = await ledger.start_session(await _student(db), TOPIC, MODULE, T0)
    a = await ledger.record_flag_raised(sid, "no_face", T0 + 3)
    assert await ledger.record_flag_raised(sid, "no_face", T0 + 3) == a  # retried: same id, no new row
    b = await ledger.record_flag_raised(sid, "mismatch", T0 + 9)
    assert b != a
    assert await ledger.record_flag_ended(sid, "no_face", T0 + 3, T0 + 8) == a
    assert await ledger.record_flag_ended(sid, "no_face", T0 + 3, T0 + 12) == a  # already ended
    c = await ledger.record_flag_ended(sid, "tab_hidden", T0 + 20, T0 + 25)  # raise never recorded
    assert len({a, b, c}) == 3
    assert await _count(db, flags) == 3
    rec = await session_record(db, sid)
    assert rec is not None
    assert [(f.id, f.kind, f.review) for f in rec.flags] == [
        (a, "no_face", "open"),
        (b, "mismatch", "open"),
        (c, "tab_hidden", "open"),
    ]


# -- samples and timeline -------------------------------------------------------------------------


async def test_samples_and_timeline(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0 + 100)
    ledger = Ledger(db)
    user = await _student(db)
    sid = await _session_with_credit(db, user, [(0, 3), (3, 6)])
    other = await _session_with_credit(db, user, [(50, 53)])
    await ledger.record_sample(sid, T0 + 3, "ok", 0.81)
    await ledger.record_sample(sid, T0, "ok", 0.79)  # stored out of order, listed in time order
    await ledger.record_sample(sid, T0 + 6, "no_face", None)
    await ledger.record_sample(other, T0 + 50, "ok", 0.9)
    with pytest.raises(UnknownSession):
        await ledger.record_sample(str(uuid.uuid4()), T0, "ok", 0.5)
    with pytest.raises(ValueError):
        await ledger.record_sample(sid, T0, "ok", float("nan"))
    flag_id = await ledger.record_flag_raised(sid, "no_face", T0 + 2)
    await Evidence(db, clock).store(flag_id, sid, JPEG)

    tl = await session_timeline(db, sid, Evidence(db, clock).cutoff())
    assert [(s.at - T0, s.reason, s.score) for s in tl.samples] == [
        (0.0, "ok", 0.79),
        (3.0, "ok", 0.81),
        (6.0, "no_face", None),
    ]
    assert [(i.seq, i.start - T0, i.end - T0, i.seconds) for i in tl.intervals] == [(0, 0, 3, 3), (1, 3, 6, 3)]
    [flag] = tl.flags
    assert (flag.flag_id, flag.kind, flag.srn, flag.name, flag.student_id) == (
        flag_id,
        "no_face",
        "CRO1",
        "Asha Rao",
        user,
    )
    assert flag.review == "open" and flag.has_snapshot is True and flag.ended_at is None
    assert tl.adjustments == [] and tl.session.id == sid and tl.session.voided_seconds == 0.0

    await Review(db, clock).review(flag_id, "confirm", "someone else", 99)
    tl = await session_timeline(db, sid, Evidence(db, clock).cutoff())
    [adj] = tl.adjustments
    assert (adj.flag_id, adj.seconds, adj.user_id, adj.by_user_id) == (flag_id, 4.0, user, 99)  # [2, 100] ∩ 0–6
    assert tl.flags[0].review == "confirmed" and tl.session.voided_seconds == 4.0
    with pytest.raises(UnknownSession):
        await session_timeline(db, str(uuid.uuid4()), Evidence(db, clock).cutoff())


# -- confirm voids credit ---------------------------------------------------------------------------


async def test_confirm_voids_exactly_the_overlap_once(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0 + 60)
    ledger = Ledger(db)
    user = await _student(db)
    sid = await _session_with_credit(db, user, [(0, 3), (3, 6), (6, 9)])
    elsewhere = await _session_with_credit(db, user, [(100, 110)], topic="a-ibc-2016")
    flag_id = await ledger.record_flag_raised(sid, "mismatch", T0 + 4)
    await ledger.record_flag_ended(sid, "mismatch", T0 + 4, T0 + 7)
    assert await credited_by_topic(db, user) == {TOPIC: 9.0, "a-ibc-2016": 10.0}

    review = Review(db, clock, margin_s=0.0)  # the overlap arithmetic alone
    view = await review.review(flag_id, "confirm", "a different person at 4–7 s", 77)
    assert (view.review, view.note, view.reviewed_by, view.reviewed_at) == (
        "confirmed",
        "a different person at 4–7 s",
        77,
        T0 + 60,
    )
    # (6 - 4) from 3–6 and (7 - 6) from 6–9: 3 s voided; the intervals are untouched.
    assert await credited_by_topic(db, user) == {TOPIC: pytest.approx(6.0), "a-ibc-2016": 10.0}
    assert await credited_by_module(db, user) == {MODULE: pytest.approx(16.0)}
    assert await credited_since(db, user, T0 + 5) == pytest.approx(6.0 + 10.0 - 3.0)  # 3–6, 6–9, 100–110
    assert await credited_since(db, user, T0 + 50) == 10.0  # the void is of earlier time
    assert await credited_since(db, user, T0 + 200) == 0.0
    idle = await _student(db, "CRO9999999")  # never credited: 0, not missing
    many = await credited_since_by_user(db, [user, idle], T0 + 5)
    assert many == {user: pytest.approx(13.0), idle: 0.0}
    rec = await session_record(db, sid)
    assert rec is not None and rec.credited_seconds == 9.0 and rec.voided_seconds == pytest.approx(3.0)
    other = await session_record(db, elsewhere)
    assert other is not None and other.voided_seconds == 0.0
    [adj] = await adjustments_for_user(db, user)
    assert (adj.session_id, adj.flag_id, adj.topic_id, adj.module_id) == (sid, flag_id, TOPIC, MODULE)
    assert (adj.seconds, adj.start_at, adj.end_at, adj.at) == (pytest.approx(3.0), T0 + 4, T0 + 7, T0 + 60)
    assert adj.note == "a different person at 4–7 s" and adj.by_user_id == 77

    # Confirming again changes nothing: no second adjustment, no audit row.
    log = Audit(db, clock)
    before = await log.head()
    clock.advance(10)
    again = await review.review(flag_id, "confirm", "again", 78)
    assert again == view
    assert await _count(db, adjustments) == 1 and await log.head() == before
    assert await credited_by_topic(db, user) == {TOPIC: pytest.approx(6.0), "a-ibc-2016": 10.0}
    # Confirmed is final.
    for action in ("acknowledge", "dismiss"):
        with pytest.raises(ReviewConflict):
            await review.review(flag_id, action, "changed my mind", 77)  # type: ignore[arg-type]

    rows = await log.recent(actor=77)
    assert [r.action for r in rows] == ["credit_voided", "flag_reviewed"]
    assert rows[0].subject == f"session:{sid}" and rows[0].details["seconds"] == pytest.approx(3.0)
    assert rows[0].details["flag_id"] == flag_id
    assert rows[1].subject == f"flag:{flag_id}" and rows[1].details["action"] == "confirm"
    assert (await verify_chain(db)).ok


async def test_confirming_an_open_flag_voids_up_to_now(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0 + 7.5)
    ledger = Ledger(db)
    user = await _student(db)
    sid = await _session_with_credit(db, user, [(0, 3), (3, 6), (6, 9)])
    flag_id = await ledger.record_flag_raised(sid, "no_face", T0 + 4)
    await Review(db, clock, margin_s=0.0).review(flag_id, "confirm", None, 5)
    [adj] = await adjustments_for_user(db, user)
    assert adj.seconds == pytest.approx(3.5) and adj.end_at == T0 + 7.5 and adj.note is None
    assert await credited_by_topic(db, user) == {TOPIC: pytest.approx(5.5)}


async def test_overlapping_flags_never_void_a_second_twice(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0 + 60)
    ledger = Ledger(db)
    user = await _student(db)
    sid = await _session_with_credit(db, user, [(0, 3), (3, 6), (6, 9)])
    a = await ledger.record_flag_ended(sid, "no_face", T0 + 2, T0 + 6)
    b = await ledger.record_flag_ended(sid, "tab_hidden", T0 + 4, T0 + 8)
    c = await ledger.record_flag_ended(sid, "mismatch", T0 + 3, T0 + 5)  # inside a: nothing left
    review = Review(db, clock, margin_s=0.0)
    await review.review(a, "confirm", None, 5)
    await review.review(b, "confirm", None, 5)
    view = await review.review(c, "confirm", None, 5)
    assert view.review == "confirmed"
    assert sorted(x.seconds for x in await adjustments_for_user(db, user)) == [
        pytest.approx(2.0),
        pytest.approx(4.0),
    ]
    assert await credited_by_topic(db, user) == {TOPIC: pytest.approx(3.0)}


async def test_progress_never_goes_below_zero(open_db: OpenDb) -> None:
    db = await open_db()
    user = await _student(db)
    sid = await _session_with_credit(db, user, [(0, 3)])
    other = await _session_with_credit(db, user, [(10, 14)], topic="a-ibc-2016")
    async with db.engine.begin() as conn:  # a manual adjustment larger than the credit
        await conn.execute(
            adjustments.insert().values(
                session_id=sid,
                flag_id=None,
                user_id=user,
                topic_id=TOPIC,
                module_id=MODULE,
                seconds=50.0,
                start_at=T0,
                end_at=T0 + 50,
                note="manual",
                by_user_id=1,
                at=T0 + 60,
            )
        )
    assert await credited_by_topic(db, user) == {TOPIC: 0.0, "a-ibc-2016": 4.0}
    assert await credited_by_module(db, user) == {MODULE: 4.0}
    rec = await session_record(db, other)
    assert rec is not None and rec.voided_seconds == 0.0


async def test_concurrent_confirms_void_once(open_db: OpenDb) -> None:
    db1, db2 = await open_db(), await open_db()
    clock = FakeClock(T0 + 60)
    user = await _student(db1)
    sid = await _session_with_credit(db1, user, [(0, 3), (3, 6), (6, 9)])
    flag_id = await Ledger(db1).record_flag_ended(sid, "no_face", T0 + 1, T0 + 8)
    views = await asyncio.gather(
        *(Review(db, clock, margin_s=0.0).review(flag_id, "confirm", f"by {i}", i)
          for i, db in enumerate((db1, db2, db1, db2)))
    )
    assert {v.review for v in views} == {"confirmed"}
    [adj] = await adjustments_for_user(db1, user)
    assert adj.seconds == pytest.approx(7.0)
    assert [r.action for r in await Audit(db1, clock).recent(action="credit_voided")] == ["credit_voided"]
    assert (await verify_chain(db1)).ok


async def test_confirm_voids_the_flag_plus_one_interval_which_is_credit_that_counts(open_db: OpenDb) -> None:
    """A flag is a run of failed samples, which earned nothing: voiding only inside it removed ~0 s.
    Confirming voids from its start to its end plus one sample interval."""
    db = await open_db()
    clock = FakeClock(T0 + 60)
    ledger = Ledger(db)
    user = await _student(db)
    # Credited 0–6, the flag's failed samples 6–12 earn nothing, credit again from 12 to 21.
    sid = await _session_with_credit(db, user, [(0, 3), (3, 6), (12, 15), (15, 18), (18, 21)])
    flag_id = await ledger.record_flag_ended(sid, "mismatch", T0 + 6, T0 + 12)
    await Review(db, clock, margin_s=3.0).review(flag_id, "confirm", "someone else sat down", 77)
    [adj] = await adjustments_for_user(db, user)
    assert (adj.start_at, adj.end_at, adj.seconds) == (T0 + 6, T0 + 15, pytest.approx(3.0))  # 12–15 voided
    assert await credited_by_topic(db, user) == {TOPIC: pytest.approx(15.0 - 3.0)}


async def test_confirm_with_session_scope_voids_the_whole_session(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0 + 60)
    ledger = Ledger(db)
    user = await _student(db)
    sid = await _session_with_credit(db, user, [(0, 3), (3, 6), (12, 15)])
    other = await _session_with_credit(db, user, [(100, 110)])  # another session keeps its credit
    await ledger.end_session(sid, T0 + 20, "client_closed")
    flag_id = await ledger.record_flag_ended(sid, "multiple_faces", T0 + 6, T0 + 9)
    view = await Review(db, clock).review(flag_id, "confirm", "answers were dictated", 77, "session")
    assert view.review == "confirmed"
    [adj] = await adjustments_for_user(db, user)
    assert (adj.session_id, adj.start_at, adj.end_at, adj.seconds) == (sid, T0, T0 + 20, pytest.approx(9.0))
    assert await credited_by_topic(db, user) == {TOPIC: pytest.approx(10.0)}
    assert (await session_record(db, other)).voided_seconds == 0.0  # type: ignore[union-attr]
    [voided] = await Audit(db, clock).recent(action="credit_voided")
    assert voided.details["scope"] == "session"
    with pytest.raises(ValueError, match="scope"):
        await Review(db, clock).review(flag_id, "confirm", None, 77, "module")  # type: ignore[arg-type]


async def test_a_proctor_can_undo_their_own_confirmation_and_it_is_audited(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0 + 60)
    ledger = Ledger(db)
    user = await _student(db)
    sid = await _session_with_credit(db, user, [(0, 3), (3, 6), (6, 9)])
    flag_id = await ledger.record_flag_ended(sid, "no_face", T0 + 3, T0 + 4)
    review = Review(db, clock)
    await review.review(flag_id, "confirm", "looked away for long", 77)
    assert await credited_by_topic(db, user) == {TOPIC: pytest.approx(5.0)}  # 3–7 voided
    with pytest.raises(ReviewConflict, match="someone else"):
        await review.review(flag_id, "undo", None, 78)  # not theirs to undo
    clock.advance(5)
    view = await review.review(flag_id, "undo", "wrong student's flag", 77)
    assert (view.review, view.reviewed_by, view.reviewed_at) == ("open", 77, T0 + 65)
    assert await credited_by_topic(db, user) == {TOPIC: pytest.approx(9.0)}
    assert await adjustments_for_user(db, user) == []
    with pytest.raises(ReviewConflict, match="not confirmed"):
        await review.review(flag_id, "undo", None, 77)
    rows = await Audit(db, clock).recent(actor=77)
    assert [r.action for r in rows[:2]] == ["credit_restored", "flag_reviewed"]
    assert rows[0].details["seconds"] == pytest.approx(4.0) and rows[1].details["action"] == "undo"
    assert (await verify_chain(db)).ok
    again = await review.review(flag_id, "confirm", None, 78)  # it can be decided again, by anyone
    assert again.review == "confirmed" and await credited_by_topic(db, user) == {TOPIC: pytest.approx(5.0)}


# -- acknowledge / dismiss ----------------------------------------------------------------------------


async def test_dismiss_needs_a_note_and_reviews_are_audited(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0 + 30)
    ledger = Ledger(db)
    user = await _student(db)
    sid = await _session_with_credit(db, user, [(0, 3)])
    flag_id = await ledger.record_flag_raised(sid, "no_face", T0 + 1)
    review = Review(db, clock)
    log = Audit(db, clock)
    before = await log.head()
    for note in (None, "", "   "):
        with pytest.raises(ValueError, match="note"):
            await review.review(flag_id, "dismiss", note, 7)
    with pytest.raises(ValueError, match="action"):
        await review.review(flag_id, "delete", "x", 7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most"):
        await review.review(flag_id, "acknowledge", "x" * 5000, 7)
    with pytest.raises(UnknownFlag):
        await review.review(flag_id + 1000, "acknowledge", None, 7)
    assert await log.head() == before  # refused reviews write nothing

    view = await review.review(flag_id, "dismiss", "  lighting glitch  ", 7)
    assert (view.review, view.note, view.reviewed_by, view.reviewed_at) == ("dismissed", "lighting glitch", 7, T0 + 30)
    clock.advance(5)
    view = await review.review(flag_id, "acknowledge", None, 8)  # no note: the earlier one stays
    assert (view.review, view.note, view.reviewed_by, view.reviewed_at) == (
        "acknowledged",
        "lighting glitch",
        8,
        T0 + 35,
    )
    assert await review.get(flag_id) == view and await review.get(flag_id + 1000) is None
    assert await _count(db, adjustments) == 0
    assert await credited_by_topic(db, user) == {TOPIC: 3.0}
    rows = list(reversed(await log.recent(action="flag_reviewed")))
    assert [(r.actor_user_id, r.details["action"], r.details.get("note")) for r in rows] == [
        (7, "dismiss", "lighting glitch"),
        (8, "acknowledge", None),
    ]


async def test_list_flags_filters_and_orders(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0 + 1000)
    ledger = Ledger(db)
    asha, ravi = await _student(db, "CRO1", "Asha"), await _student(db, "CRO2", "Ravi")
    s1 = await ledger.start_session(asha, TOPIC, MODULE, T0)
    s2 = await ledger.start_session(ravi, TOPIC, MODULE, T0)
    f1 = await ledger.record_flag_raised(s1, "no_face", T0 + 10)
    f2 = await ledger.record_flag_raised(s2, "mismatch", T0 + 20)
    f3 = await ledger.record_flag_raised(s1, "tab_hidden", T0 + 30)
    f4 = await ledger.record_flag_raised(s2, "no_face", T0 + 40)
    evidence = Evidence(db, clock, retention_s=100)
    await evidence.store(f2, s2, JPEG)
    review = Review(db, clock, snapshot_retention_s=100)
    await review.review(f3, "acknowledge", None, 9)
    await review.review(f4, "dismiss", "false alarm", 9)

    open_ = await review.list_flags("open", 50)
    assert [f.flag_id for f in open_] == [f2, f1]
    assert [(f.srn, f.name, f.student_id, f.has_snapshot) for f in open_] == [
        ("CRO2", "Ravi", ravi, True),
        ("CRO1", "Asha", asha, False),
    ]
    every = await review.list_flags("all", 50)
    assert [(f.flag_id, f.review) for f in every] == [
        (f4, "dismissed"),
        (f3, "acknowledged"),
        (f2, "open"),
        (f1, "open"),
    ]
    assert [f.flag_id for f in await review.list_flags("all", 2)] == [f4, f3]
    with pytest.raises(ValueError):
        await review.list_flags("closed", 5)  # type: ignore[arg-type]
    clock.advance(100)  # past retention: the snapshot is no longer shown, even before a purge
    assert [f.has_snapshot for f in await review.list_flags("open", 50)] == [False, False]


async def test_review_columns_arrive_with_migration_0003(open_db: OpenDb) -> None:
    """Flags recorded before 0003 survive the upgrade (SQLite rebuilds the table) as 'open'."""
    db = await open_db(migrate=False)

    def to_0002(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")

    async with db.engine.begin() as conn:
        await conn.run_sync(to_0002)
        await conn.exec_driver_sql(
            "INSERT INTO users (id, srn, name, role, created_at) VALUES (1, 'CRO1', 'Asha', 'student', 0)"
        )
        await conn.exec_driver_sql(
            "INSERT INTO live_sessions (id, user_id, topic_id, module_id, started_at, state, reason)"
            " VALUES ('s1', 1, 't', 'm', 0, 'unverified', 'not_started')"
        )
        await conn.exec_driver_sql(
            "INSERT INTO flags (session_id, kind, started_at, ended_at) VALUES ('s1', 'no_face', 1, 2)"
        )
    await db.migrate()
    assert await db.current_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
    [view] = await Review(db, FakeClock(10)).list_flags("open", 10)
    assert (view.session_id, view.kind, view.review, view.ended_at, view.has_snapshot) == (
        "s1",
        "no_face",
        "open",
        2.0,
        False,
    )
    assert await Ledger(db).record_flag_raised("s1", "no_face", 1.0) == view.flag_id


# -- enrolment approvals ----------------------------------------------------------------------------


async def test_enrollment_approvals(open_db: OpenDb) -> None:
    db = await open_db()
    clock = FakeClock(T0)
    students = Students(db, clock)
    asha, ravi, mira = (
        await _student(db, "CRO1", "Asha"),
        await _student(db, "CRO2", "Ravi"),
        await _student(db, "CRO3", "Mira"),
    )
    vec = b"\x00" * 8
    p1 = await students.add_reference(asha, b"photo-a1", "m", [vec], 2)
    p2 = await students.add_reference(asha, b"photo-a2", "m", [vec], 2)
    p3 = await students.add_reference(ravi, b"photo-r1", "m", [vec], 2)
    await students.add_reference(mira, b"photo-m1", "m", [vec], 2)
    await students.set_enrollment_status(asha, "pending")
    await students.set_enrollment_status(ravi, "pending")
    await students.set_enrollment_status(mira, "approved")  # no actor: not a proctor's approval

    assert await students.pending_enrollments() == [
        PendingEnrollment(asha, "CRO1", "Asha", [p1, p2]),
        PendingEnrollment(ravi, "CRO2", "Ravi", [p3]),
    ]
    assert await students.photo(asha, p2) == b"photo-a2"
    assert await students.photo(ravi, p2) is None  # someone else's photo
    log = Audit(db, clock)
    assert await log.head() is None
    assert await students.photo(asha, p1, viewed_by=50) == b"photo-a1"
    assert await students.photo(asha, 9999, viewed_by=50) is None

    await students.set_enrollment_status(asha, "approved", actor=50, note="ok")
    assert await students.reject_enrollment(ravi, actor=51, note="blurry") == 1
    with pytest.raises(UnknownUser):
        await students.reject_enrollment(9999, actor=51)
    with pytest.raises(UnknownUser):
        await students.set_enrollment_status(9999, "approved", actor=50)

    assert await students.pending_enrollments() == []
    fresh_asha, fresh_ravi = await students.get(asha), await students.get(ravi)
    assert fresh_asha is not None and fresh_asha.enrollment_status == "approved"
    assert fresh_ravi is not None and fresh_ravi.enrollment_status == "none"
    assert await students.references(ravi, "m") == [] and await students.photo(ravi, p3) is None
    assert len(await students.references(asha, "m")) == 2  # untouched
    async with db.engine.connect() as conn:
        left = (await conn.execute(select(reference_photos.c.user_id).order_by(reference_photos.c.id))).scalars().all()
        emb = (await conn.execute(select(func.count()).select_from(reference_embeddings))).scalar_one()
    assert list(left) == [asha, asha, mira] and emb == 3
    rows = list(reversed(await log.recent()))
    assert [(r.action, r.actor_user_id, r.subject, r.details) for r in rows] == [
        ("photo_viewed", 50, f"user:{asha}", {"photo_id": p1}),
        ("enrollment_approved", 50, f"user:{asha}", {"note": "ok"}),
        ("enrollment_rejected", 51, f"user:{ravi}", {"photos": 1, "embeddings": 1, "note": "blurry"}),
    ]
    assert (await verify_chain(db)).ok
