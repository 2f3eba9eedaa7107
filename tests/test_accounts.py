"""Logins (passwords), web sessions and Students, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import CheckConstraint, select

from proctor.clock import FakeClock
from proctor.db import Database
from proctor.logins import Logins
from proctor.passwords import hash_password
from proctor.students import StaffExists, StudentExists, Students, UnknownUser
from proctor.tables import users, web_sessions
from proctor.users import STAFF_ROLES, Role
from proctor.web_sessions import REMEMBER_SECONDS, SESSION_MAX_AGE_SECONDS, token_id

from .fakes import fast_hasher

T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def accounts(db: Database, clock: FakeClock) -> Logins:
    return Logins(db, clock, hasher=fast_hasher())


async def _add_asha(db: Database, password: str = "correct horse") -> int:
    return await Students(db).add_student(
        " cro0123456 ", "Asha Rao", None, hash_password(password, fast_hasher())
    )


# -- passwords --------------------------------------------------------------------------------------


async def test_authenticate(db: Database, accounts: Logins) -> None:
    uid = await _add_asha(db)
    user = await accounts.authenticate("CRO0123456", "correct horse")
    assert user is not None and (user.id, user.srn, user.role) == (uid, "CRO0123456", "student")
    assert (await accounts.authenticate("cro0123456", "correct horse")) == user  # SRN case-insensitive
    assert await accounts.authenticate("CRO0123456", "wrong") is None
    assert await accounts.authenticate("CRO0000000", "correct horse") is None  # unknown user
    assert await accounts.authenticate("", "") is None


async def test_user_without_password_cannot_log_in(db: Database, accounts: Logins) -> None:
    await Students(db).add_student("CRO1", "No Password", None, None)
    assert await accounts.authenticate("CRO1", "") is None
    assert await accounts.authenticate("CRO1", "anything") is None


async def test_staff_login_by_username(db: Database, accounts: Logins) -> None:
    sid = await Students(db).add_staff("Proctor1", "P. One", "proctor", hash_password("pw", fast_hasher()))
    user = await accounts.authenticate("proctor1", "pw")
    assert user is not None and (user.id, user.username, user.srn, user.role) == (
        sid,
        "proctor1",
        None,
        "proctor",
    )
    with pytest.raises(StaffExists):
        await Students(db).add_staff("PROCTOR1", "Again", "admin", "x")
    with pytest.raises(ValueError, match="role"):
        await Students(db).add_staff("p2", "P", "student", "x")


async def test_outdated_hash_is_upgraded_on_login(db: Database, accounts: Logins) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    uid = await Students(db).add_student("CRO1", "A", None, hash_password("pw", stronger))
    assert await accounts.authenticate("CRO1", "pw") is not None
    async with db.engine.connect() as conn:
        new_hash = (await conn.execute(select(users.c.password_hash).where(users.c.id == uid))).scalar_one()
    assert not fast_hasher().check_needs_rehash(new_hash)
    assert await accounts.authenticate("CRO1", "pw") is not None


# -- web sessions -----------------------------------------------------------------------------------


async def test_session_roundtrip_and_token_stored_hashed(
    db: Database, accounts: Logins, clock: FakeClock
) -> None:
    uid = await _add_asha(db)
    raw, ws = await accounts.web_sessions.create(uid, remember=False, user_agent="UA", ip="10.0.0.1")
    assert len(raw) >= 43 and ws.id == token_id(raw) and ws.expires_at is None
    resolved = await accounts.web_sessions.resolve(raw)
    assert resolved is not None
    user, session = resolved
    assert user.id == uid and session == ws
    assert (
        session.check_csrf(ws.csrf_token) and not session.check_csrf("nope") and not session.check_csrf(None)
    )
    assert await accounts.web_sessions.resolve(ws.id) is None  # the stored id is not a usable token
    assert await accounts.web_sessions.resolve("") is None
    assert await accounts.web_sessions.resolve("made-up") is None

    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(web_sessions))).all()
    assert len(rows) == 1
    assert all(raw not in str(value) for value in rows[0])


async def test_session_expiry(db: Database, accounts: Logins, clock: FakeClock) -> None:
    uid = await _add_asha(db)
    short_raw, short = await accounts.web_sessions.create(uid, remember=False, user_agent=None, ip=None)
    long_raw, long = await accounts.web_sessions.create(uid, remember=True, user_agent=None, ip=None)
    assert long.expires_at == T0 + REMEMBER_SECONDS
    assert short.hard_expiry == T0 + SESSION_MAX_AGE_SECONDS

    clock.advance(SESSION_MAX_AGE_SECONDS - 1)
    assert await accounts.web_sessions.resolve(short_raw) is not None
    clock.advance(1)
    assert await accounts.web_sessions.resolve(short_raw) is None
    assert await accounts.web_sessions.resolve(long_raw) is not None
    clock.set(T0 + REMEMBER_SECONDS)
    assert await accounts.web_sessions.resolve(long_raw) is None


async def test_revoke(db: Database, accounts: Logins) -> None:
    uid = await _add_asha(db)
    other = await Students(db).add_student("CRO2", "Ravi", None, None)
    raw1, _ = await accounts.web_sessions.create(uid, False, None, None)
    raw2, ws2 = await accounts.web_sessions.create(uid, True, None, None)
    raw3, _ = await accounts.web_sessions.create(uid, True, None, None)
    raw_other, _ = await accounts.web_sessions.create(other, True, None, None)

    assert await accounts.web_sessions.revoke(raw1) is True  # by raw token
    assert await accounts.web_sessions.revoke(raw1) is False
    assert await accounts.web_sessions.resolve(raw1) is None
    assert await accounts.web_sessions.revoke(ws2.id) is True  # by stored id
    assert await accounts.web_sessions.resolve(raw2) is None
    assert await accounts.web_sessions.resolve(raw3) is not None

    assert await accounts.web_sessions.revoke_all(uid) == 1
    assert await accounts.web_sessions.resolve(raw3) is None
    assert await accounts.web_sessions.resolve(raw_other) is not None


def test_the_schema_allows_exactly_the_roles() -> None:
    [check] = [c for c in users.constraints if isinstance(c, CheckConstraint) and c.name == "ck_users_role"]
    assert str(check.sqltext) == "role IN (" + ", ".join(f"'{r.value}'" for r in Role) + ")"
    assert STAFF_ROLES == (Role.PROCTOR, Role.ADMIN)
    assert [r.is_staff for r in Role] == [False, True, True]


# -- students ---------------------------------------------------------------------------------------


async def test_students(db: Database) -> None:
    students = Students(db)
    assert await students.count_users() == 0
    uid = await students.add_student("CRO0123456", "Asha Rao", "+91 90000 00000", None)
    with pytest.raises(StudentExists, match="CRO0123456"):
        await students.add_student("cro0123456", "Someone Else", None, None)
    assert await students.count_users() == 1

    user = await students.get_by_srn("cro0123456")
    assert user is not None and user.id == uid and user.enrollment_status == "none"
    assert user.mobile == "+91 90000 00000"
    assert await students.get_by_srn("CRO9") is None
    assert await students.get(uid) == user

    await students.set_enrollment_status(uid, "pending")
    await students.set_password_hash(uid, "h")
    user = await students.get(uid)
    assert user is not None and user.enrollment_status == "pending"
    with pytest.raises(ValueError):
        await students.set_enrollment_status(uid, "bogus")
    with pytest.raises(UnknownUser):
        await students.set_enrollment_status(uid + 100, "approved")


async def test_references(db: Database) -> None:
    students = Students(db)
    uid = await students.add_student("CRO1", "A", None, None)
    v1, v2, v3 = (bytes([i]) * 8 for i in range(3))  # dim 2: 2 x float32 = 8 bytes
    await students.add_reference(uid, b"\xff\xd8jpeg", "facenet-vggface2", [v1, v2], dim=2)
    await students.add_reference(uid, b"\xff\xd8jpeg2", "facenet-vggface2", [v3], dim=2)
    await students.add_reference(uid, b"\xff\xd8jpeg", "other-model", [v3], dim=2)
    assert await students.references(uid, "facenet-vggface2") == [v1, v2, v3]
    assert await students.references(uid, "other-model") == [v3]
    assert await students.references(uid, "missing") == []
    with pytest.raises(ValueError, match="bytes"):
        await students.add_reference(uid, b"x", "m", [b"\x00" * 7], dim=2)
    with pytest.raises(UnknownUser):
        await students.add_reference(uid + 100, b"x", "m", [v1], dim=2)
