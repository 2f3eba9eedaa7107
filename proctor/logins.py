"""The credential flows: password login, the TOTP step, SMS-code login, activation, reset, password
change, re-checking a password, turning TOTP off, and lifting a lock-out.

Each flow does its slow password hashing before its transaction, then re-reads the user inside it
and records the outcome through `LoginAttempts` (audit row and lock-out count, in the same
transaction as its effect). A login that matches no user costs the same hash work and answers the
same, so logins cannot be enumerated. A successful login issues nothing by itself: the caller
creates the web session (`self.web_sessions`).
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.lockout import Lockout, LockPolicy, reset_failures, retry_after
from proctor.login_attempts import LoginAttempts, LoginResult, current_row
from proctor.otp import OTP_RETENTION_S, OtpResult, Otps, check_code
from proctor.outbox import SmsSender
from proctor.passwords import Hasher, check_password
from proctor.tables import login_challenges as _CHALLENGES
from proctor.tables import otp_codes as _OTP
from proctor.tables import users as _USERS
from proctor.totp import Totp, check_second_factor
from proctor.users import User, normalize_srn, user_from_row
from proctor.web_sessions import WebSessions, revoke_for_user, token_id

CHALLENGE_SECONDS = 300.0
"""How long a 'totp_required' challenge waits for its TOTP code."""


class Logins:
    """Every way to prove who you are; holds the stores the flows share (TOTP, SMS codes, web sessions)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        hasher: PasswordHasher | None = None,
        *,
        sender: SmsSender | None = None,
        lock_policy: LockPolicy | None = None,
        otp_pepper: bytes = b"",
    ) -> None:
        self._db = db
        self._clock = clock
        self._hasher = Hasher(hasher)
        self.lock_policy = lock_policy or LockPolicy()
        self.lockout = Lockout(db, clock, self.lock_policy)
        self.otps = Otps(db, clock, sender, pepper=otp_pepper)
        self.totp = Totp(db, clock, policy=self.lock_policy)
        self.web_sessions = WebSessions(db, clock)
        self._attempts = LoginAttempts(db, clock, self.lock_policy)

    # -- password login ---------------------------------------------------------------------------

    async def authenticate(self, srn_or_username: str, password: str) -> User | None:
        """The user whose SRN (or, failing that, staff username) and password match, else None.

        Same rules as `login_password` (lock-out, audit); a user with TOTP on gets None here, as
        the second factor cannot be given: use `login_password` for those.
        """
        result = await self.login_password(srn_or_username, password)
        return result.user if result.ok else None

    async def login_password(self, login: str, password: str, *, ip: str | None = None) -> LoginResult:
        """SRN (or staff username) + password.

        A user with TOTP on gets 'totp_required' and a `challenge` for `login_totp`. The failure count
        is only reset by a full success, so guessing TOTP codes after right passwords still locks.
        """
        row = await self._attempts.find(login)
        early = await self._attempts.locked_before_work(login, row, "password", ip)
        if early is not None:
            return early
        password_ok = await self._hasher.verify(None if row is None else row.password_hash, password)
        if row is None:
            return await self._attempts.unknown(login, "password", ip)
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await current_row(conn, row.id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._attempts.refuse_if_locked(conn, cur, now, "password", ip)
            if locked is not None:
                return locked
            if not password_ok or cur.password_hash != row.password_hash:
                return await self._attempts.fail(conn, row.id, now, "password", ip)
            if cur.totp_enabled:
                return LoginResult("totp_required", challenge=await self._challenge(conn, row.id, now, "password"))
            user = await self._attempts.succeed(conn, row.id, now, "login_ok", {"via": "password", "ip": ip})
        assert row.password_hash is not None
        await self._rehash_if_needed(row.id, row.password_hash, password)
        return LoginResult("ok", user=user)

    async def _rehash_if_needed(self, user_id: int, old_hash: str, password: str) -> None:
        # Hashes made with older (weaker) parameters are upgraded the only time we see the password.
        if not self._hasher.needs_rehash(old_hash):
            return
        new_hash = await self._hasher.hash(password)
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(_USERS)
                .where(_USERS.c.id == user_id, _USERS.c.password_hash == old_hash)
                .values(password_hash=new_hash)
            )

    # -- the TOTP step ----------------------------------------------------------------------------

    @staticmethod
    async def _challenge(conn: AsyncConnection, user_id: int, now: float, via: str) -> str:
        raw = secrets.token_urlsafe(32)
        await conn.execute(
            _CHALLENGES.insert().values(
                id=token_id(raw),
                user_id=user_id,
                via=via,
                created_at=now,
                expires_at=now + CHALLENGE_SECONDS,
                used_at=None,
            )
        )
        return raw

    async def login_totp(self, challenge: str, code: str, *, ip: str | None = None) -> LoginResult:
        """Second step: the challenge from 'totp_required' and a TOTP or recovery code.

        'invalid' for an unknown, used or expired challenge; 'totp_invalid' (counted towards the
        lock-out) for a wrong code; the challenge works once.
        """
        if not challenge:
            return LoginResult("invalid")
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            ch = (await conn.execute(select(_CHALLENGES).where(_CHALLENGES.c.id == token_id(challenge)))).first()
            if ch is None or ch.used_at is not None or now >= ch.expires_at:
                return LoginResult("invalid")
            cur = await current_row(conn, ch.user_id)
            if cur is None or not cur.totp_enabled:
                return LoginResult("invalid")
            locked = await self._attempts.refuse_if_locked(conn, cur, now, "totp", ip)
            if locked is not None:
                return locked
            if not await check_second_factor(conn, cur.id, code, now):
                return await self._attempts.fail(conn, cur.id, now, "totp", ip, status="totp_invalid")
            used = await conn.execute(
                update(_CHALLENGES)
                .where(_CHALLENGES.c.id == ch.id, _CHALLENGES.c.used_at.is_(None))
                .values(used_at=now)
            )
            if used.rowcount != 1:
                return LoginResult("invalid")
            user = await self._attempts.succeed(conn, cur.id, now, "login_ok", {"via": f"{ch.via}+totp", "ip": ip})
        return LoginResult("ok", user=user)

    # -- SMS codes --------------------------------------------------------------------------------

    async def request_otp(self, login: str, purpose: str) -> None:
        """Send a code of `purpose` ('login', 'activate', 'reset') if that makes sense for `login`.

        Says nothing either way (the page should answer "if the SRN is registered, a code was sent
        to its mobile"): no user, no mobile, locked, cooldown, 'activate' for an account that has a
        password or 'reset' for one that has none all silently send nothing.
        """
        row = await self._attempts.find(login)
        if row is None or retry_after(row.locked_until, self._clock.now()) is not None:
            return
        if purpose == "activate" and row.password_hash is not None:
            return
        if purpose == "reset" and row.password_hash is None:
            return
        await self.otps.request(row.id, purpose)

    async def _code_step(self, conn: AsyncConnection, user_id: int, purpose: str, code: str, now: float) -> OtpResult:
        return await check_code(
            conn,
            user_id=user_id,
            purpose=purpose,
            code=code,
            now=now,
            max_attempts=self.otps.max_attempts,
            pepper=self.otps.pepper,
        )

    async def login_otp(self, srn: str, code: str, *, ip: str | None = None) -> LoginResult:
        """Log in with the SMS code of purpose 'login' (used up); 'totp_required' + challenge if TOTP is on."""
        row = await self._attempts.find(srn)
        early = await self._attempts.locked_before_work(srn, row, "otp", ip)
        if early is not None:
            return early
        if row is None:
            return await self._attempts.unknown(srn, "otp", ip)
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await current_row(conn, row.id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._attempts.refuse_if_locked(conn, cur, now, "otp", ip)
            if locked is not None:
                return locked
            result = await self._code_step(conn, row.id, "login", code, now)
            if result is not OtpResult.OK:
                return await self._attempts.fail(conn, row.id, now, "otp", ip, otp=result)
            if cur.totp_enabled:
                return LoginResult(
                    "totp_required", otp=result, challenge=await self._challenge(conn, row.id, now, "otp")
                )
            user = await self._attempts.succeed(conn, row.id, now, "login_ok", {"via": "otp", "ip": ip})
        return LoginResult("ok", user=user, otp=OtpResult.OK)

    # -- setting a password with an SMS code ------------------------------------------------------

    async def _set_password_with_code(
        self, srn: str, code: str, new_password: str, purpose: str, ip: str | None
    ) -> LoginResult:
        check_password(new_password, normalize_srn(srn))
        row = await self._attempts.find(srn)
        early = await self._attempts.locked_before_work(srn, row, purpose, ip)
        if early is not None:
            return early
        new_hash = await self._hasher.hash(new_password)  # unknown SRNs cost the same
        if row is None:
            return await self._attempts.unknown(srn, purpose, ip)
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await current_row(conn, row.id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._attempts.refuse_if_locked(conn, cur, now, purpose, ip)
            if locked is not None:
                return locked
            if purpose == "activate" and cur.password_hash is not None:
                return await self._attempts.fail(conn, row.id, now, purpose, ip, reason="already_active")
            result = await self._code_step(conn, row.id, purpose, code, now)
            if result is not OtpResult.OK:
                return await self._attempts.fail(conn, row.id, now, purpose, ip, otp=result)
            await conn.execute(update(_USERS).where(_USERS.c.id == row.id).values(password_hash=new_hash))
            # A reset means the password may be known to someone else: end every login made with it.
            revoked = await revoke_for_user(conn, row.id, now) if purpose == "reset" else 0
            action = "activated" if purpose == "activate" else "password_reset"
            user = await self._attempts.succeed(conn, row.id, now, action, {"ip": ip, "sessions_revoked": revoked})
        return LoginResult("ok", user=user, otp=OtpResult.OK)

    async def activate(self, srn: str, code: str, new_password: str, *, ip: str | None = None) -> LoginResult:
        """First-time activation: the 'activate' SMS code sets the first password.

        Raises passwords.WeakPassword before anything else (the code stays usable).
        """
        return await self._set_password_with_code(srn, code, new_password, "activate", ip)

    async def reset_password(self, srn: str, code: str, new_password: str, *, ip: str | None = None) -> LoginResult:
        """Forgotten password: the 'reset' SMS code sets a new one and ends every web session.

        Raises passwords.WeakPassword before anything else (the code stays usable). TOTP, when on,
        stays on: a reset by SMS does not get past the second factor.
        """
        return await self._set_password_with_code(srn, code, new_password, "reset", ip)

    # -- a logged-in user's password --------------------------------------------------------------

    async def change_password(
        self,
        user_id: int,
        current: str,
        new: str,
        *,
        keep_session: str | None = None,
        ip: str | None = None,
    ) -> LoginResult:
        """Change a password knowing the current one; every other web session is revoked.

        `keep_session`: the raw cookie token or stored id of the session making the change (kept).
        Wrong current passwords count towards the lock-out. Raises passwords.WeakPassword.
        """
        row = await self._attempts.find_by_id(user_id)
        if row is None:
            return LoginResult("invalid")
        check_password(new, row.srn or row.username)
        early = await self._attempts.locked_before_work("", row, "change_password", ip)
        if early is not None:
            return early
        current_ok = await self._hasher.verify(row.password_hash, current)
        new_hash = await self._hasher.hash(new) if current_ok else None
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await current_row(conn, user_id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._attempts.refuse_if_locked(conn, cur, now, "change_password", ip)
            if locked is not None:
                return locked
            if not current_ok or new_hash is None or cur.password_hash != row.password_hash:
                return await self._attempts.fail(conn, user_id, now, "change_password", ip)
            await conn.execute(update(_USERS).where(_USERS.c.id == user_id).values(password_hash=new_hash))
            revoked = await revoke_for_user(conn, user_id, now, keep=keep_session)
            user = await self._attempts.succeed(
                conn, user_id, now, "password_changed", {"ip": ip, "sessions_revoked": revoked}
            )
        return LoginResult("ok", user=user)

    async def verify_password(self, user_id: int, password: str, *, ip: str | None = None) -> LoginResult:
        """Re-check a logged-in user's password (before a sensitive change), with the lock-out rules."""
        row = await self._attempts.find_by_id(user_id)
        if row is None:
            return LoginResult("invalid")
        early = await self._attempts.locked_before_work("", row, "reauth", ip)
        if early is not None:
            return early
        ok = await self._hasher.verify(row.password_hash, password)
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await current_row(conn, user_id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._attempts.refuse_if_locked(conn, cur, now, "reauth", ip)
            if locked is not None:
                return locked
            if not ok or cur.password_hash != row.password_hash:
                return await self._attempts.fail(conn, user_id, now, "reauth", ip)
            # Not `succeed`: a re-check resets the failure count but is no login to audit.
            await reset_failures(conn, user_id)
            return LoginResult("ok", user=user_from_row(cur))

    async def disable_totp(self, user_id: int, password: str, *, ip: str | None = None) -> LoginResult:
        """Turn TOTP off after re-checking the password ('invalid'/'locked' as for logins)."""
        check = await self.verify_password(user_id, password, ip=ip)
        if not check.ok:
            return check
        await self.totp.disable(user_id)
        user = await self._attempts.find_by_id(user_id)
        return LoginResult("ok", user=None if user is None else user_from_row(user))

    # -- operator actions -------------------------------------------------------------------------

    async def purge_expired(self, *, older_than_s: float = OTP_RETENTION_S) -> int:
        """Delete SMS codes and login challenges that expired more than `older_than_s` ago."""
        cutoff = self._clock.now() - older_than_s
        async with self._db.engine.begin() as conn:
            a = await conn.execute(delete(_OTP).where(_OTP.c.expires_at < cutoff))
            b = await conn.execute(delete(_CHALLENGES).where(_CHALLENGES.c.expires_at < cutoff))
        return int(a.rowcount) + int(b.rowcount)

    async def unlock(self, user_id: int, *, actor: int | None = None) -> bool:
        """Lift a lock-out now (staff action); True if the user exists."""
        return await self.lockout.unlock(user_id, actor=actor)
