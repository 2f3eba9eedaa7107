"""Password policy, activation, reset, password change and session management (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.audit import Audit
from proctor.clock import FakeClock
from proctor.db import Database
from proctor.logins import Logins
from proctor.otp import OtpResult
from proctor.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    WeakPassword,
    check_password,
    common_passwords,
    hash_password,
    policy_json,
)
from proctor.students import Students

from .fakes import Recorder, fast_hasher

T0 = 1_700_000_000.0
SRN = "CRO0123456"
OLD = "old but long password"
NEW = "river tiger lamp 42"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def sms() -> Recorder:
    return Recorder()


@pytest.fixture
def accounts(db: Database, clock: FakeClock, sms: Recorder) -> Logins:
    return Logins(db, clock, fast_hasher(), sender=sms)


async def _student(db: Database, password: str | None) -> int:
    pw_hash = None if password is None else hash_password(password, fast_hasher())
    return await Students(db).add_student(SRN, "Asha Rao", "+91 90000 00000", pw_hash)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# -- policy -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "at least 10"),
        ("nine char", "at least 10"),
        ("x" * (MAX_LENGTH + 1), "at most 1024"),
        ("1234567890", "too common"),
        ("QWERTYUIOP", "too common"),  # case-insensitive
        ("Liverpool1", "too common"),
        ("cro0123456", "SRN"),
        ("my srn is Cro0123456!", "SRN"),
    ],
)
def test_weak_passwords(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword, match=reason) as info:
        check_password(password, SRN)
    assert info.value.message == str(info.value)


def test_acceptable_passwords() -> None:
    assert MIN_LENGTH == 10
    check_password("river tiger lamp 42", SRN)
    check_password("x" * MAX_LENGTH, SRN)
    check_password("ten chars!", None)
    check_password("correct horse battery staple", "asha.rao")
    with pytest.raises(WeakPassword):
        check_password("i am asha.rao, hello", "Asha.Rao")


def test_policy_json_states_the_limits_check_password_applies() -> None:
    policy = policy_json()
    assert (policy["min_length"], policy["max_length"]) == (MIN_LENGTH, MAX_LENGTH)
    assert policy["rules"] == [{"id": "length", "text": f"At least {MIN_LENGTH} characters"},
                               {"id": "common", "text": "Not a common password"},
                               {"id": "login", "text": "Not your SRN or username"}]


def test_common_list_is_zxcvbn_top_10000_with_attribution() -> None:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    path = Path(__file__).resolve().parent.parent / "proctor" / "common_passwords.txt"
    text = path.read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    entries = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert entries == FREQUENCY_LISTS["passwords"][:10000]
    assert any("zxcvbn" in line for line in header) and any("MIT" in line for line in header)
    assert len(common_passwords()) == 10000 and "password" in common_passwords()


# -- activation -------------------------------------------------------------------------------------


async def test_activation(db: Database, accounts: Logins, sms: Recorder, clock: FakeClock) -> None:
    uid = await _student(db, None)
    assert (await accounts.login_password(SRN, NEW)).status == "invalid"
    await accounts.request_otp(SRN, "activate")
    code = sms.last_code()
    with pytest.raises(WeakPassword):
        await accounts.activate(SRN, code, "password")
    with pytest.raises(WeakPassword):
        await accounts.activate(SRN, code, SRN.lower() + "xyz")
    bad = await accounts.activate(SRN, _wrong(code), NEW)
    assert (bad.status, bad.otp) == ("invalid", OtpResult.INVALID)
    done = await accounts.activate(SRN, code, NEW, ip="10.1.1.1")  # the weak tries did not spend the code
    assert done.ok and done.user is not None and done.user.id == uid and done.user.has_password
    logged_in = await accounts.login_password(SRN, NEW)
    assert logged_in.ok
    # Activated once: a second activation is refused and no activation code is sent any more.
    clock.advance(60)
    await accounts.request_otp(SRN, "activate")
    assert len(sms.sent) == 1
    assert (await accounts.activate(SRN, code, "another long password")).status == "invalid"
    assert [e.action for e in await Audit(db, clock).recent(action="activated")] == ["activated"]


async def test_activation_unknown_srn(accounts: Logins) -> None:
    result = await accounts.activate("CRO404", "123456", NEW)
    assert (result.status, result.otp) == ("invalid", None)


# -- reset --------------------------------------------------------------------------------------------


async def test_reset_revokes_every_session(
    db: Database, accounts: Logins, sms: Recorder, clock: FakeClock
) -> None:
    uid = await _student(db, OLD)
    raw1, _ = await accounts.web_sessions.create(uid, True, "phone", "10.0.0.1")
    raw2, _ = await accounts.web_sessions.create(uid, False, "laptop", "10.0.0.2")
    await accounts.request_otp(SRN, "reset")
    code = sms.last_code()
    assert "expires in 15 minutes" in sms.sent[-1]
    clock.advance(14 * 60)  # reset codes live 15 minutes
    with pytest.raises(WeakPassword):
        await accounts.reset_password(SRN, code, "short")
    result = await accounts.reset_password(SRN, code, NEW)
    assert result.ok
    assert await accounts.web_sessions.resolve(raw1) is None and await accounts.web_sessions.resolve(raw2) is None
    assert (await accounts.login_password(SRN, OLD)).status == "invalid"
    assert (await accounts.login_password(SRN, NEW)).ok
    assert (await accounts.reset_password(SRN, code, "yet another passphrase")).status == "invalid"  # used
    [entry] = await Audit(db, clock).recent(action="password_reset")
    assert entry.details["sessions_revoked"] == 2


async def test_reset_code_expires(db: Database, accounts: Logins, sms: Recorder, clock: FakeClock) -> None:
    await _student(db, OLD)
    await accounts.request_otp(SRN, "reset")
    code = sms.last_code()
    clock.advance(15 * 60)
    result = await accounts.reset_password(SRN, code, NEW)
    assert (result.status, result.otp) == ("invalid", OtpResult.EXPIRED)
    assert (await accounts.login_password(SRN, OLD)).ok


# -- change -------------------------------------------------------------------------------------------


async def test_change_password_keeps_only_this_session(db: Database, accounts: Logins) -> None:
    uid = await _student(db, OLD)
    here_raw, here = await accounts.web_sessions.create(uid, False, None, None)
    other_raw, _ = await accounts.web_sessions.create(uid, True, None, None)
    with pytest.raises(WeakPassword):
        await accounts.change_password(uid, OLD, "qwertyuiop", keep_session=here_raw)
    assert (await accounts.change_password(uid, "wrong", NEW, keep_session=here_raw)).status == "invalid"
    assert (await accounts.change_password(uid, OLD, NEW, keep_session=here.id)).ok  # stored id works too
    assert await accounts.web_sessions.resolve(here_raw) is not None
    assert await accounts.web_sessions.resolve(other_raw) is None
    assert (await accounts.login_password(SRN, NEW)).ok
    assert (await accounts.change_password(uid + 7, OLD, NEW)).status == "invalid"


async def test_verify_password(db: Database, accounts: Logins) -> None:
    uid = await _student(db, OLD)
    assert (await accounts.verify_password(uid, OLD)).ok
    assert (await accounts.verify_password(uid, "nope")).status == "invalid"
    assert (await accounts.verify_password(uid + 3, OLD)).status == "invalid"


# -- sessions -----------------------------------------------------------------------------------------


async def test_list_and_revoke_sessions(db: Database, accounts: Logins, clock: FakeClock) -> None:
    uid = await _student(db, OLD)
    other = await Students(db).add_student("CRO2", "Ravi", None, None)
    _, old = await accounts.web_sessions.create(uid, False, "old", None)
    clock.advance(10)
    a_raw, a = await accounts.web_sessions.create(uid, True, "a", "10.0.0.1")
    clock.advance(10)
    b_raw, _ = await accounts.web_sessions.create(uid, False, "b", None)
    _, theirs = await accounts.web_sessions.create(other, True, None, None)
    await accounts.web_sessions.revoke(b_raw)

    listed = await accounts.web_sessions.list_for_user(uid)
    assert [s.id for s in listed] == [a.id, old.id]  # active only, newest first
    assert all(len(s.public_id) == 16 and s.id.startswith(s.public_id) for s in listed)

    clock.advance(12 * 3600)  # the browser-session one hits the server-side cap
    assert [s.id for s in await accounts.web_sessions.list_for_user(uid)] == [a.id]

    assert await accounts.web_sessions.revoke_by_public_id(uid, theirs.public_id) is False  # not theirs to revoke
    assert await accounts.web_sessions.revoke_by_public_id(uid, "not-hex") is False
    assert await accounts.web_sessions.revoke_by_public_id(uid, a.id) is False  # the full id is not a public id
    assert await accounts.web_sessions.revoke_by_public_id(uid, a.public_id.upper()) is True
    assert await accounts.web_sessions.revoke_by_public_id(uid, a.public_id) is False
    assert await accounts.web_sessions.resolve(a_raw) is None
    assert await accounts.web_sessions.list_for_user(uid) == []
    assert [s.id for s in await accounts.web_sessions.list_for_user(other)] == [theirs.id]
