"""Lock-out after repeated failures, enumeration resistance and the per-IP limiter."""

from __future__ import annotations

from typing import Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from proctor.audit import Audit, verify_chain
from proctor.clock import FakeClock
from proctor.db import Database
from proctor.lockout import IpLimiter, LockPolicy
from proctor.logins import Logins
from proctor.otp import OtpResult
from proctor.passwords import hash_password
from proctor.students import Students
from proctor.tables import users

from .fakes import Recorder

T0 = 1_700_000_000.0
PW = "correct horse battery"


class CountingHasher(PasswordHasher):
    """A fast argon2id hasher that counts the verifications it performs."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verifies = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verifies += 1
        return super().verify(hash, password)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def sms() -> Recorder:
    return Recorder()


@pytest.fixture
def accounts(db: Database, clock: FakeClock, hasher: CountingHasher, sms: Recorder) -> Logins:
    return Logins(db, clock, hasher, sender=sms)


async def _asha(db: Database, hasher: PasswordHasher) -> int:
    return await Students(db).add_student("CRO0123456", "Asha Rao", "+91 90000 00000", hash_password(PW, hasher))


async def _failed_logins(db: Database, uid: int) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(users.c.failed_logins).where(users.c.id == uid))).scalar_one())


async def test_brute_force_locks_then_expires(
    db: Database, accounts: Logins, clock: FakeClock, hasher: CountingHasher
) -> None:
    uid = await _asha(db, hasher)
    for i in range(4):
        r = await accounts.login_password("CRO0123456", f"guess {i}")
        assert (r.status, r.user, r.retry_after_s) == ("invalid", None, None)
    fifth = await accounts.login_password("CRO0123456", "guess 5")
    assert fifth.status == "locked" and fifth.retry_after_s == pytest.approx(900)

    clock.advance(100)
    right = await accounts.login_password("CRO0123456", PW)
    assert (right.status, right.user) == ("locked", None)
    assert right.retry_after_s == pytest.approx(800)
    assert await accounts.authenticate("CRO0123456", PW) is None  # the old entry point obeys it too
    assert await accounts.lockout.status(uid) == pytest.approx(800)

    clock.advance(800)
    ok = await accounts.login_password("CRO0123456", PW)
    assert ok.ok and ok.user is not None and ok.user.id == uid
    assert await accounts.lockout.status(uid) is None

    actions = [e.action for e in reversed(await Audit(db, clock).recent(actor=uid))]
    # The two refusals while locked came within a minute: one audit row counts both.
    assert actions == ["login_failed"] * 5 + ["lockout"] + ["login_failed"] + ["login_ok"]
    assert (await verify_chain(db)).ok


async def test_success_resets_the_count(db: Database, accounts: Logins, hasher: CountingHasher) -> None:
    uid = await _asha(db, hasher)
    for _ in range(4):
        assert (await accounts.login_password("CRO0123456", "nope")).status == "invalid"
    assert await _failed_logins(db, uid) == 4
    assert (await accounts.login_password("CRO0123456", PW)).ok
    assert await _failed_logins(db, uid) == 0
    for _ in range(4):
        assert (await accounts.login_password("CRO0123456", "nope")).status == "invalid"
    assert (await accounts.login_password("CRO0123456", PW)).ok


async def test_lock_seconds_configurable_and_unlock(db: Database, clock: FakeClock, hasher: CountingHasher) -> None:
    accounts = Logins(db, clock, hasher, lock_policy=LockPolicy(max_failures=3, lock_seconds=60))
    uid = await _asha(db, hasher)
    for _ in range(3):
        last = await accounts.login_password("CRO0123456", "nope")
    assert last.status == "locked" and last.retry_after_s == pytest.approx(60)
    assert await accounts.unlock(uid, actor=None) is True
    assert await accounts.unlock(uid + 50) is False
    assert (await accounts.login_password("CRO0123456", PW)).ok
    assert [e.action for e in await Audit(db, clock).recent(action="unlocked")] == ["unlocked"]


async def test_password_and_otp_failures_share_the_counter(
    db: Database, accounts: Logins, sms: Recorder, hasher: CountingHasher
) -> None:
    await _asha(db, hasher)
    for _ in range(3):
        await accounts.login_password("CRO0123456", "nope")
    await accounts.request_otp("CRO0123456", "login")
    code = sms.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert (await accounts.login_otp("CRO0123456", wrong)).status == "invalid"
    locked = await accounts.login_otp("CRO0123456", wrong)
    assert locked.status == "locked" and locked.otp is OtpResult.INVALID
    # Locked: even the right code is refused (and not spent), and no new code is sent.
    assert (await accounts.login_otp("CRO0123456", code)).status == "locked"
    await accounts.request_otp("CRO0123456", "login")
    assert len(sms.sent) == 1


async def test_unknown_login_costs_the_same_and_looks_the_same(
    db: Database, accounts: Logins, hasher: CountingHasher, clock: FakeClock
) -> None:
    await _asha(db, hasher)
    await Students(db).add_student("CRO2", "Not Activated", None, None)

    before = hasher.verifies
    known = await accounts.login_password("CRO0123456", "wrong password")
    known_cost = hasher.verifies - before
    before = hasher.verifies
    unknown = await accounts.login_password("CRO9999999", "wrong password")
    unknown_cost = hasher.verifies - before
    before = hasher.verifies
    inactive = await accounts.login_password("CRO2", "")
    inactive_cost = hasher.verifies - before
    before = hasher.verifies
    too_long = await accounts.login_password("CRO0123456", "x" * 5000)
    too_long_cost = hasher.verifies - before
    assert known_cost == unknown_cost == inactive_cost == too_long_cost == 1
    assert known == unknown == inactive == too_long
    assert known.status == "invalid"

    # A made-up SRN locks exactly like a real one, so "locked after 5" reveals nothing.
    real = [await accounts.login_password("CRO0123456", "x") for _ in range(3)]
    fake = [await accounts.login_password("CRO9999999", "x") for _ in range(4)]
    assert [r.status for r in real][-1] == "locked" and [r.status for r in fake][-1] == "locked"
    assert real[-1].retry_after_s == fake[-1].retry_after_s == pytest.approx(900)
    assert (await accounts.login_otp("CRO9999999", "123456")).status == "locked"
    clock.advance(900)
    assert (await accounts.login_password("CRO9999999", "x")).status == "invalid"


async def test_change_password_failures_count(db: Database, accounts: Logins, hasher: CountingHasher) -> None:
    uid = await _asha(db, hasher)
    for _ in range(4):
        assert (await accounts.change_password(uid, "not it", "a much better password")).status == "invalid"
    assert (await accounts.change_password(uid, "not it", "a much better password")).status == "locked"
    assert (await accounts.change_password(uid, PW, "a much better password")).status == "locked"


def test_ip_limiter_sliding_window() -> None:
    clock = FakeClock(T0)
    limiter = IpLimiter(clock, limit=3, window_s=60)
    assert limiter.check("10.0.0.1") is None
    for _ in range(2):
        limiter.failure("10.0.0.1")
        clock.advance(10)
    assert limiter.check("10.0.0.1") is None
    limiter.failure("10.0.0.1")  # at T0+20: 3 failures within 60 s
    assert limiter.check("10.0.0.1") == pytest.approx(40)  # until the first one (T0) leaves the window
    assert limiter.check("10.0.0.2") is None
    clock.advance(40)
    assert limiter.check("10.0.0.1") is None  # T0 slid out: 2 left
    limiter.failure("10.0.0.1")
    assert limiter.check("10.0.0.1") == pytest.approx(10)  # now T0+10 is the oldest
    limiter.reset("10.0.0.1")
    assert limiter.check("10.0.0.1") is None
    with pytest.raises(ValueError):
        IpLimiter(clock, limit=0)


def test_ip_limiter_memory_is_bounded() -> None:
    clock = FakeClock(T0)
    limiter = IpLimiter(clock, limit=2, window_s=60, max_tracked=100)
    for i in range(1000):
        limiter.failure(f"10.0.{i // 256}.{i % 256}")
        limiter.failure(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._hits) == 100
    assert limiter.check("10.0.3.231") is not None  # the most recent are kept
    assert limiter.check("10.0.0.0") is None
    for _ in range(50):
        limiter.failure("1.2.3.4")
    assert len(limiter._hits["1.2.3.4"]) == 2
