"""TOTP second factor: setup, challenges, replay, recovery codes and lock-out (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import select

from proctor.audit import Audit
from proctor.clock import FakeClock
from proctor.db import Database
from proctor.logins import CHALLENGE_SECONDS, Logins
from proctor.passwords import hash_password
from proctor.students import Students
from proctor.tables import totp_recovery_codes
from proctor.totp import InvalidTotpCode, Totp, TotpAlreadyEnabled, TotpNotPending

from .fakes import Recorder, fast_hasher

T0 = 1_700_000_010.0  # 10 s into a 30 s step
SRN = "CRO0123456"
PW = "correct horse battery"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def sms() -> Recorder:
    return Recorder()


@pytest.fixture
def accounts(db: Database, clock: FakeClock, sms: Recorder) -> Logins:
    return Logins(db, clock, fast_hasher(), sender=sms)


def code_at(secret: str, t: float) -> str:
    return pyotp.TOTP(secret).at(int(t))


async def _enrolled(db: Database, accounts: Logins, clock: FakeClock) -> tuple[int, str, list[str]]:
    uid = await Students(db).add_student(SRN, "Asha Rao", "+91 90000 00000", hash_password(PW, fast_hasher()))
    setup = await accounts.totp.begin_setup(uid)
    codes = await accounts.totp.enable(uid, code_at(setup.secret, clock.now()))
    clock.advance(30)  # the enabling code's step is spent
    return uid, setup.secret, codes


async def test_setup_and_enable(db: Database, accounts: Logins, clock: FakeClock) -> None:
    uid = await Students(db).add_student(SRN, "Asha Rao", None, hash_password(PW, fast_hasher()))
    totp = accounts.totp
    with pytest.raises(TotpNotPending):
        await totp.enable(uid, "123456")
    secret, uri, qr = await totp.begin_setup(uid)
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parse_qs(parsed.query)["issuer"] == ["proctor"] and parse_qs(parsed.query)["secret"] == [secret]
    assert SRN in parsed.path
    assert qr.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(qr.split(",", 1)[1]).decode().startswith("<svg")
    assert len(base64.b32decode(secret)) >= 20  # 160-bit secret

    assert await totp.is_enabled(uid) is False
    with pytest.raises(InvalidTotpCode):
        await totp.enable(uid, code_at(secret, clock.now() + 120))
    codes = await totp.enable(uid, code_at(secret, clock.now()))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert await totp.is_enabled(uid) and await totp.recovery_codes_left(uid) == 10
    async with db.engine.connect() as conn:
        stored = (await conn.execute(select(totp_recovery_codes.c.code_hash))).scalars().all()
    assert not set(codes) & set(stored)
    with pytest.raises(TotpAlreadyEnabled):
        await totp.begin_setup(uid)
    with pytest.raises(TotpAlreadyEnabled):
        await totp.enable(uid, code_at(secret, clock.now()))
    user = await Students(db).get(uid)
    assert user is not None and user.totp_enabled
    assert [e.action for e in await Audit(db, clock).recent(actor=uid)] == ["totp_enabled"]


async def test_password_login_needs_the_second_step(db: Database, accounts: Logins, clock: FakeClock) -> None:
    uid, secret, _ = await _enrolled(db, accounts, clock)
    first = await accounts.login_password(SRN, PW)
    assert (first.status, first.user) == ("totp_required", None) and first.challenge
    assert await accounts.authenticate(SRN, PW) is None  # the one-step entry point cannot pass 2FA
    assert (await accounts.login_totp("made-up", code_at(secret, clock.now()))).status == "invalid"
    wrong = await accounts.login_totp(first.challenge, code_at(secret, clock.now() + 300))
    assert wrong.status == "totp_invalid"
    ok = await accounts.login_totp(first.challenge, code_at(secret, clock.now()), ip="10.0.0.5")
    assert ok.ok and ok.user is not None and ok.user.id == uid
    # The challenge works once, and the same code (same step) is never accepted again.
    assert (await accounts.login_totp(first.challenge, code_at(secret, clock.now()))).status == "invalid"
    second = await accounts.login_password(SRN, PW)
    assert second.challenge is not None
    replay = await accounts.login_totp(second.challenge, code_at(secret, clock.now()))
    assert replay.status == "totp_invalid"
    clock.advance(30)
    assert (await accounts.login_totp(second.challenge, code_at(secret, clock.now()))).ok
    entries = await Audit(db, clock).recent(action="login_ok")
    assert entries[-1].details == {"via": "password+totp", "ip": "10.0.0.5"}


async def test_valid_window_is_one_step(db: Database, accounts: Logins, clock: FakeClock) -> None:
    uid, secret, _ = await _enrolled(db, accounts, clock)
    now = clock.now()
    assert await accounts.totp.verify(uid, code_at(secret, now + 30)) is True  # next step (clock skew)
    assert await accounts.totp.verify(uid, code_at(secret, now - 30)) is False  # older than the last used
    clock.advance(90)
    assert await accounts.totp.verify(uid, code_at(secret, clock.now() - 60)) is False  # two steps old
    assert await accounts.totp.verify(uid, code_at(secret, clock.now() - 30)) is True  # one step old


async def test_challenge_expires(db: Database, accounts: Logins, clock: FakeClock) -> None:
    _, secret, _ = await _enrolled(db, accounts, clock)
    first = await accounts.login_password(SRN, PW)
    assert first.challenge is not None
    clock.advance(CHALLENGE_SECONDS)
    assert (await accounts.login_totp(first.challenge, code_at(secret, clock.now()))).status == "invalid"


async def test_recovery_code_works_once(db: Database, accounts: Logins, clock: FakeClock) -> None:
    uid, _, codes = await _enrolled(db, accounts, clock)
    first = await accounts.login_password(SRN, PW)
    assert first.challenge is not None
    assert (await accounts.login_totp(first.challenge, " " + codes[3].upper() + " ")).ok
    assert await accounts.totp.recovery_codes_left(uid) == 9
    second = await accounts.login_password(SRN, PW)
    assert second.challenge is not None
    assert (await accounts.login_totp(second.challenge, codes[3])).status == "totp_invalid"
    assert await accounts.totp.verify(uid, codes[4].replace("-", "")) is True
    assert await accounts.totp.verify(uid, codes[4]) is False


async def test_wrong_codes_lock_the_account(db: Database, accounts: Logins, clock: FakeClock) -> None:
    uid, secret, _ = await _enrolled(db, accounts, clock)
    results = []
    for _ in range(5):
        step = await accounts.login_password(SRN, PW)  # a right password does not reset the count
        assert step.challenge is not None
        results.append(await accounts.login_totp(step.challenge, "not-a-code"))
    assert [r.status for r in results] == ["totp_invalid"] * 4 + ["locked"]
    assert (await accounts.login_password(SRN, PW)).status == "locked"
    assert await accounts.totp.verify(uid, code_at(secret, clock.now())) is False  # locked
    clock.advance(900)
    step = await accounts.login_password(SRN, PW)
    assert step.challenge is not None
    assert (await accounts.login_totp(step.challenge, code_at(secret, clock.now()))).ok


async def test_totp_verify_counts_failures(db: Database, accounts: Logins, clock: FakeClock) -> None:
    uid, _, _ = await _enrolled(db, accounts, clock)
    for _ in range(5):
        assert await accounts.totp.verify(uid, "abcde-fghij") is False
    assert await accounts.lockout.status(uid) == pytest.approx(900)
    assert await Totp(db, clock).verify(uid + 99, "123456") is False  # unknown user


async def test_otp_login_then_totp(db: Database, accounts: Logins, sms: Recorder, clock: FakeClock) -> None:
    _, secret, _ = await _enrolled(db, accounts, clock)
    await accounts.request_otp(SRN, "login")
    first = await accounts.login_otp(SRN, sms.last_code())
    assert first.status == "totp_required" and first.challenge is not None
    ok = await accounts.login_totp(first.challenge, code_at(secret, clock.now()))
    assert ok.ok
    [entry] = await Audit(db, clock).recent(action="login_ok")
    assert entry.details["via"] == "otp+totp"


async def test_disable(db: Database, accounts: Logins, clock: FakeClock) -> None:
    uid, _, _ = await _enrolled(db, accounts, clock)
    assert (await accounts.disable_totp(uid, "wrong password")).status == "invalid"
    assert await accounts.totp.is_enabled(uid)
    done = await accounts.disable_totp(uid, PW)
    assert done.ok and done.user is not None and not done.user.totp_enabled
    assert await accounts.totp.recovery_codes_left(uid) == 0
    assert (await accounts.login_password(SRN, PW)).ok  # one step again
    assert await accounts.totp.disable(uid) is False  # already off
    assert await accounts.totp.disable(uid + 9) is False
    assert [e.action for e in await Audit(db, clock).recent(action="totp_disabled")] == ["totp_disabled"]
