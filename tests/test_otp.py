"""SMS one-time codes and the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from proctor.audit import Audit
from proctor.clock import FakeClock
from proctor.db import Database
from proctor.logins import Logins
from proctor.otp import OtpResult, Otps
from proctor.outbox import OutboxSender, list_outbox
from proctor.passwords import hash_password
from proctor.students import Students
from proctor.tables import otp_codes

from .fakes import Recorder, fast_hasher

T0 = 1_700_000_000.0
MOBILE = "+91 98765 43210"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def sms() -> Recorder:
    return Recorder()


@pytest.fixture
def otps(db: Database, clock: FakeClock, sms: Recorder) -> Otps:
    return Otps(db, clock, sms)


async def _student(db: Database, srn: str = "CRO0000001", mobile: str | None = MOBILE, pw: str | None = None) -> int:
    pw_hash = None if pw is None else hash_password(pw, fast_hasher())
    return await Students(db).add_student(srn, "Asha Rao", mobile, pw_hash)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_request_sends_the_code_and_stores_only_a_hash(
    db: Database, otps: Otps, sms: Recorder
) -> None:
    uid = await _student(db)
    assert await otps.request(uid, "login") is True
    assert len(sms.sent) == 1
    mobile, text, to_user = sms.calls[0]
    code = sms.last_code()
    assert (mobile, to_user) == (MOBILE, uid)
    assert text == f"proctor: your login code is {code}. It expires in 5 minutes. Never share it."
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(otp_codes))).all()
    assert len(rows) == 1 and all(code not in str(v) for v in rows[0])
    assert await otps.verify(uid, "login", code) is OtpResult.OK
    # Audited without the code and with a masked number.
    [entry] = await Audit(db, FakeClock()).recent(action="otp_sent")
    assert entry.actor_user_id == uid and entry.details == {"purpose": "login", "to": "…3210"}


async def test_no_mobile_sends_nothing(db: Database, otps: Otps, sms: Recorder) -> None:
    uid = await _student(db, mobile=None)
    assert await otps.request(uid, "login") is False
    assert await otps.request(uid + 99, "login") is False  # unknown user
    assert sms.sent == []
    assert await otps.verify(uid, "login", "123456") is OtpResult.NONE


async def test_cooldown_and_new_code_replaces_old(
    db: Database, otps: Otps, sms: Recorder, clock: FakeClock
) -> None:
    uid = await _student(db)
    assert await otps.request(uid, "login")
    first = sms.last_code()
    clock.advance(29.9)
    assert await otps.request(uid, "login") is False
    assert len(sms.sent) == 1
    assert await otps.request(uid, "reset") is True  # the cooldown is per purpose
    clock.advance(0.1)
    assert await otps.request(uid, "login") is True
    second = sms.last_code()
    if first != second:
        assert await otps.verify(uid, "login", first) is OtpResult.INVALID
    assert await otps.verify(uid, "login", second) is OtpResult.OK


async def test_hourly_cap(db: Database, sms: Recorder, clock: FakeClock) -> None:
    uid = await _student(db)
    otps = Otps(db, clock, sms, max_per_hour=3)
    for _ in range(3):
        assert await otps.request(uid, "login")
        clock.advance(31)
    assert await otps.request(uid, "login") is False
    clock.advance(3600)
    assert await otps.request(uid, "login") is True


async def test_expiry_per_purpose(db: Database, otps: Otps, sms: Recorder, clock: FakeClock) -> None:
    uid = await _student(db)
    await otps.request(uid, "login")
    login_code = sms.last_code()
    await otps.request(uid, "reset")
    reset_code = sms.last_code()
    assert "It expires in 15 minutes." in sms.sent[-1]
    clock.advance(300)
    assert await otps.verify(uid, "login", login_code) is OtpResult.EXPIRED
    clock.advance(599)
    assert await otps.verify(uid, "reset", reset_code) is OtpResult.OK


async def test_attempt_limit(db: Database, otps: Otps, sms: Recorder, clock: FakeClock) -> None:
    uid = await _student(db)
    await otps.request(uid, "login")
    code = sms.last_code()
    for _ in range(4):
        assert await otps.verify(uid, "login", _wrong(code)) is OtpResult.INVALID
    assert await otps.verify(uid, "login", code) is OtpResult.OK  # the 5th attempt may be right

    clock.advance(30)
    await otps.request(uid, "login")
    code = sms.last_code()
    for _ in range(5):
        assert await otps.verify(uid, "login", "not a code") is OtpResult.INVALID
    assert await otps.verify(uid, "login", code) is OtpResult.TOO_MANY_ATTEMPTS


async def test_parallel_guesses_cannot_exceed_the_limit(db: Database, otps: Otps, sms: Recorder) -> None:
    uid = await _student(db)
    await otps.request(uid, "login")
    code = sms.last_code()
    results = await asyncio.gather(*(otps.verify(uid, "login", _wrong(code)) for _ in range(12)))
    assert results.count(OtpResult.INVALID) == 5
    assert results.count(OtpResult.TOO_MANY_ATTEMPTS) == 7
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(otp_codes.c.attempts))).scalar_one() == 5


async def test_single_use_and_purpose_bound(db: Database, otps: Otps, sms: Recorder) -> None:
    uid = await _student(db)
    await otps.request(uid, "activate")
    code = sms.last_code()
    assert await otps.verify(uid, "login", code) is OtpResult.NONE
    assert await otps.verify(uid + 1, "activate", code) is OtpResult.NONE
    assert await otps.verify(uid, "activate", f" {code[:3]} {code[3:]} ") is OtpResult.OK  # blanks ignored
    assert await otps.verify(uid, "activate", code) is OtpResult.NONE
    with pytest.raises(ValueError):
        await otps.request(uid, "sudo")


async def test_outbox_sender_and_listing(db: Database, clock: FakeClock) -> None:
    asha = await _student(db, "CRO1")
    ravi = await _student(db, "CRO2", mobile="+91 90000 00002")
    otps = Otps(db, clock)  # default sender: the outbox table
    assert await otps.request(asha, "login")
    clock.advance(1)
    assert await otps.request(ravi, "activate")
    clock.advance(1)
    await OutboxSender(db, clock).send("+91 1", "hello", None)
    every = await list_outbox(db)
    assert [m.srn for m in every] == [None, "CRO2", "CRO1"]  # newest first
    assert every[1].mobile == "+91 90000 00002" and every[1].created_at == T0 + 1
    assert "your activate code is" in every[1].text
    [mine] = await list_outbox(db, " cro1 ")
    assert mine.srn == "CRO1" and "your login code is" in mine.text
    assert await list_outbox(db, "CRO404") == []


# -- through Logins ---------------------------------------------------------------------------------


async def test_login_with_otp(db: Database, clock: FakeClock, sms: Recorder) -> None:
    accounts = Logins(db, clock, fast_hasher(), sender=sms)
    uid = await _student(db, pw="long enough password")
    await accounts.request_otp("cro0000001", "login")
    code = sms.last_code()
    bad = await accounts.login_otp("CRO0000001", _wrong(code))
    assert (bad.status, bad.otp, bad.user) == ("invalid", OtpResult.INVALID, None)
    ok = await accounts.login_otp("CRO0000001", code, ip="10.0.0.9")
    assert ok.ok and ok.user is not None and ok.user.id == uid
    again = await accounts.login_otp("CRO0000001", code)
    assert (again.status, again.otp) == ("invalid", OtpResult.NONE)
    [entry] = await Audit(db, clock).recent(action="login_ok")
    assert entry.details == {"via": "otp", "ip": "10.0.0.9"}


async def test_request_otp_is_silent_and_purpose_checked(db: Database, clock: FakeClock, sms: Recorder) -> None:
    accounts = Logins(db, clock, fast_hasher(), sender=sms)
    await _student(db, "CRO1", pw="long enough password")
    await _student(db, "CRO2")  # not activated yet
    await accounts.request_otp("CRO404", "login")  # unknown: nothing sent, and no error
    await accounts.request_otp("CRO1", "activate")  # already has a password
    await accounts.request_otp("CRO2", "reset")  # has no password to reset
    assert sms.sent == []
    await accounts.request_otp("CRO1", "reset")
    await accounts.request_otp("CRO2", "activate")
    assert len(sms.sent) == 2
