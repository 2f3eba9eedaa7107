"""Logins: argon2id passwords, SMS codes, TOTP, lock-out, and server-side web sessions.

The cookie carries a random token; the database keeps only its sha256 (the session id), so a
leaked database cannot be replayed as cookies. Each session has its own CSRF token.

Every login path (password, SMS code, activation, reset, password change, TOTP) counts failures
towards the per-user lock-out (`proctor.lockout`) and writes the audit log (`proctor.audit`) in the
same transaction as its effect. A login that matches no user costs the same password-hash work, is
locked out the same way (in memory) and answers the same 'invalid', so logins cannot be enumerated.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.lockout import Lockout, LockPolicy, PhantomLocks, register_failure, reset_failures, retry_after
from proctor.otp import OTP_RETENTION_S, OtpResult, Otps, check_code
from proctor.outbox import SmsSender
from proctor.passwords import MAX_LENGTH, check_password
from proctor.tables import login_challenges as _CHALLENGES
from proctor.tables import otp_codes as _OTP
from proctor.tables import users as _USERS
from proctor.tables import web_sessions as _SESSIONS
from proctor.totp import Totp, check_second_factor

REMEMBER_SECONDS = 30 * 24 * 3600.0
"""Lifetime of a "remember me" session (persistent cookie)."""
SESSION_MAX_AGE_SECONDS = 12 * 3600.0
"""Server-side cap on a browser-session cookie (expires_at is NULL for those)."""
CHALLENGE_SECONDS = 300.0
"""How long a 'totp_required' challenge waits for its TOTP code."""
PUBLIC_ID_LENGTH = 16
_PUBLIC_ID = re.compile(r"[0-9a-f]{16}")

LoginStatus = Literal["ok", "invalid", "locked", "totp_required", "totp_invalid"]


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login or of a code-protected account change.

    status: 'ok' (user set); 'invalid' (wrong or unknown login, password or code, or an unknown or
    expired challenge: never says which); 'locked' (retry_after_s set; even the right secret is
    refused); 'totp_required' (first factor right: `challenge` set, pass it to `login_totp` with the
    code); 'totp_invalid' (the TOTP/recovery code was wrong; the challenge stays usable until expiry).
    `otp` says why an SMS code was refused (expired, too_many_attempts, ...) for a known user.
    """

    status: LoginStatus
    user: User | None = None
    retry_after_s: float | None = None
    otp: OtpResult | None = None
    challenge: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def default_hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's default (RFC 9106 low-memory) parameters."""
    return PasswordHasher()


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """Synchronous (deliberately slow): call from a CLI, or via `asyncio.to_thread`."""
    return (hasher or default_hasher()).hash(password)


def normalize_srn(srn: str) -> str:
    """SRNs compare case-insensitively and without surrounding blanks."""
    return srn.strip().upper()


def normalize_username(username: str) -> str:
    return username.strip().lower()


def token_id(raw_token: str) -> str:
    """The stored id of a session token: sha256 hex."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class User:
    id: int
    srn: str | None
    username: str | None
    name: str
    mobile: str | None
    role: str
    enrollment_status: str
    has_password: bool = False  # False: a student who has not activated the account yet
    totp_enabled: bool = False


@dataclass(frozen=True)
class WebSession:
    id: str
    user_id: int
    csrf_token: str
    created_at: float
    expires_at: float | None  # None: browser-session cookie (still capped server-side)
    revoked_at: float | None
    remember: bool
    user_agent: str | None
    ip: str | None

    @property
    def public_id(self) -> str:
        """A short handle for "your sessions" pages: the first 16 hex characters of the stored id."""
        return self.id[:PUBLIC_ID_LENGTH]

    @property
    def hard_expiry(self) -> float:
        """When the server stops accepting this session, whatever the cookie says."""
        if self.expires_at is not None:
            return self.expires_at
        return self.created_at + SESSION_MAX_AGE_SECONDS

    def check_csrf(self, token: str | None) -> bool:
        """Constant-time comparison with this session's CSRF token."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf_token.encode())


def user_from_row(r: Row[Any]) -> User:
    """A `User` from a row of the users table."""
    return User(
        id=r.id,
        srn=r.srn,
        username=r.username,
        name=r.name,
        mobile=r.mobile,
        role=r.role,
        enrollment_status=r.enrollment_status,
        has_password=r.password_hash is not None,
        totp_enabled=bool(r.totp_enabled),
    )


def _session_from_row(r: Row[Any]) -> WebSession:
    return WebSession(
        id=r.id,
        user_id=r.user_id,
        csrf_token=r.csrf_token,
        created_at=r.created_at,
        expires_at=r.expires_at,
        revoked_at=r.revoked_at,
        remember=bool(r.remember),
        user_agent=r.user_agent,
        ip=r.ip,
    )


class Accounts:
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
        self._hasher = hasher or default_hasher()
        self._dummy_hash: str | None = None
        self.lock_policy = lock_policy or LockPolicy()
        self.lockout = Lockout(db, clock, self.lock_policy)
        self.otps = Otps(db, clock, sender, pepper=otp_pepper)
        self.totp = Totp(db, clock, policy=self.lock_policy)
        self._phantom = PhantomLocks(clock, self.lock_policy)

    async def hash_password(self, password: str) -> str:
        """Hash with this instance's parameters, off the event loop."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    async def _dummy_verify(self, password: str) -> None:
        """The hash work of a real check, for logins that cannot succeed."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash_password(secrets.token_urlsafe(16))
        await self._verify(self._dummy_hash, password[:MAX_LENGTH])

    async def _find(self, login: str) -> Row[Any] | None:
        """The user whose SRN or, failing that, staff username is `login`."""
        login = login.strip()
        if not login:
            return None
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(_USERS).where(_USERS.c.srn == normalize_srn(login)))).first()
            if row is None:
                row = (
                    await conn.execute(select(_USERS).where(_USERS.c.username == normalize_username(login)))
                ).first()
        return row

    @staticmethod
    def _phantom_key(login: str) -> str:
        return login.strip().casefold()[:256]

    async def _unknown_login(self, login: str, via: str, ip: str | None) -> LoginResult:
        """What a login that matches no user gets: the same answers as a real one, lock-out included."""
        now = self._clock.now()
        key = self._phantom_key(login)
        wait = self._phantom.check(key)
        if wait is None:
            wait = self._phantom.failure(key)
        async with audit.write_transaction(self._db) as conn:
            await audit.append(
                conn,
                at=now,
                action="login_failed",
                actor=None,
                subject=f"login:{login.strip()[:64]}",
                details={"via": via, "ip": ip, "reason": "unknown"},
            )
        return LoginResult("locked", retry_after_s=wait) if wait is not None else LoginResult("invalid")

    @staticmethod
    async def _current(conn: AsyncConnection, user_id: int) -> Row[Any] | None:
        return (await conn.execute(select(_USERS).where(_USERS.c.id == user_id))).first()

    async def _fail(
        self,
        conn: AsyncConnection,
        user_id: int,
        now: float,
        via: str,
        ip: str | None,
        *,
        status: LoginStatus = "invalid",
        otp: OtpResult | None = None,
        reason: str | None = None,
    ) -> LoginResult:
        """Audit a failed attempt and count it; 'locked' if that was the one too many."""
        details: dict[str, Any] = {"via": via, "ip": ip}
        if reason is not None:
            details["reason"] = reason
        if otp is not None:
            details["otp"] = otp.value
        await audit.append(
            conn, at=now, action="login_failed", actor=user_id, subject=f"user:{user_id}", details=details
        )
        wait = await register_failure(conn, user_id, now, self.lock_policy, details={"via": via, "ip": ip})
        if wait is not None:
            return LoginResult("locked", retry_after_s=wait, otp=otp)
        return LoginResult(status, otp=otp)

    @staticmethod
    async def _refuse_locked(
        conn: AsyncConnection, row: Row[Any], now: float, via: str, ip: str | None
    ) -> LoginResult | None:
        wait = retry_after(row.locked_until, now)
        if wait is None:
            return None
        await audit.append(
            conn,
            at=now,
            action="login_failed",
            actor=row.id,
            subject=f"user:{row.id}",
            details={"via": via, "ip": ip, "reason": "locked"},
        )
        return LoginResult("locked", retry_after_s=wait)

    async def _succeed(
        self, conn: AsyncConnection, user_id: int, now: float, action: str, details: dict[str, Any]
    ) -> User:
        await reset_failures(conn, user_id)
        await audit.append(conn, at=now, action=action, actor=user_id, subject=f"user:{user_id}", details=details)
        row = await self._current(conn, user_id)
        assert row is not None
        return user_from_row(row)

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
        row = await self._find(login)
        if row is None or row.password_hash is None or len(password) > MAX_LENGTH:
            await self._dummy_verify(password)  # the same hash work as a real check
            password_ok = False
        else:
            password_ok = await self._verify(row.password_hash, password)
        if row is None:
            return await self._unknown_login(login, "password", ip)
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await self._current(conn, row.id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._refuse_locked(conn, cur, now, "password", ip)
            if locked is not None:
                return locked
            if not password_ok or cur.password_hash != row.password_hash:
                return await self._fail(conn, row.id, now, "password", ip)
            if cur.totp_enabled:
                return LoginResult("totp_required", challenge=await self._challenge(conn, row.id, now, "password"))
            user = await self._succeed(conn, row.id, now, "login_ok", {"via": "password", "ip": ip})
        assert row.password_hash is not None
        await self._rehash_if_needed(row.id, row.password_hash, password)
        return LoginResult("ok", user=user)

    async def _rehash_if_needed(self, user_id: int, old_hash: str, password: str) -> None:
        if not self._hasher.check_needs_rehash(old_hash):
            return
        new_hash = await self.hash_password(password)
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(_USERS)
                .where(_USERS.c.id == user_id, _USERS.c.password_hash == old_hash)
                .values(password_hash=new_hash)
            )

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
            cur = await self._current(conn, ch.user_id)
            if cur is None or not cur.totp_enabled:
                return LoginResult("invalid")
            locked = await self._refuse_locked(conn, cur, now, "totp", ip)
            if locked is not None:
                return locked
            if not await check_second_factor(conn, cur.id, code, now):
                return await self._fail(conn, cur.id, now, "totp", ip, status="totp_invalid")
            used = await conn.execute(
                update(_CHALLENGES)
                .where(_CHALLENGES.c.id == ch.id, _CHALLENGES.c.used_at.is_(None))
                .values(used_at=now)
            )
            if used.rowcount != 1:
                return LoginResult("invalid")
            user = await self._succeed(conn, cur.id, now, "login_ok", {"via": f"{ch.via}+totp", "ip": ip})
        return LoginResult("ok", user=user)

    # -- SMS codes --------------------------------------------------------------------------------

    async def request_otp(self, login: str, purpose: str) -> None:
        """Send a code of `purpose` ('login', 'activate', 'reset') if that makes sense for `login`.

        Says nothing either way (the page should answer "if the SRN is registered, a code was sent
        to its mobile"): no user, no mobile, locked, cooldown, 'activate' for an account that has a
        password or 'reset' for one that has none all silently send nothing.
        """
        row = await self._find(login)
        if row is None or retry_after(row.locked_until, self._clock.now()) is not None:
            return
        if purpose == "activate" and row.password_hash is not None:
            return
        if purpose == "reset" and row.password_hash is None:
            return
        await self.otps.request(row.id, purpose)

    async def _code_step(
        self,
        conn: AsyncConnection,
        user_id: int,
        purpose: str,
        code: str,
        now: float,
    ) -> OtpResult:
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
        row = await self._find(srn)
        if row is None:
            return await self._unknown_login(srn, "otp", ip)
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await self._current(conn, row.id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._refuse_locked(conn, cur, now, "otp", ip)
            if locked is not None:
                return locked
            result = await self._code_step(conn, row.id, "login", code, now)
            if result is not OtpResult.OK:
                return await self._fail(conn, row.id, now, "otp", ip, otp=result)
            if cur.totp_enabled:
                return LoginResult(
                    "totp_required", otp=result, challenge=await self._challenge(conn, row.id, now, "otp")
                )
            user = await self._succeed(conn, row.id, now, "login_ok", {"via": "otp", "ip": ip})
        return LoginResult("ok", user=user, otp=OtpResult.OK)

    async def _set_password_with_code(
        self, srn: str, code: str, new_password: str, purpose: str, ip: str | None
    ) -> LoginResult:
        check_password(new_password, normalize_srn(srn))
        row = await self._find(srn)
        new_hash = await self.hash_password(new_password)  # unknown SRNs cost the same
        if row is None:
            return await self._unknown_login(srn, purpose, ip)
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await self._current(conn, row.id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._refuse_locked(conn, cur, now, purpose, ip)
            if locked is not None:
                return locked
            if purpose == "activate" and cur.password_hash is not None:
                return await self._fail(conn, row.id, now, purpose, ip, reason="already_active")
            result = await self._code_step(conn, row.id, purpose, code, now)
            if result is not OtpResult.OK:
                return await self._fail(conn, row.id, now, purpose, ip, otp=result)
            await conn.execute(update(_USERS).where(_USERS.c.id == row.id).values(password_hash=new_hash))
            revoked = 0
            if purpose == "reset":
                revoked = (
                    await conn.execute(
                        update(_SESSIONS)
                        .where(_SESSIONS.c.user_id == row.id, _SESSIONS.c.revoked_at.is_(None))
                        .values(revoked_at=now)
                    )
                ).rowcount
            action = "activated" if purpose == "activate" else "password_reset"
            user = await self._succeed(conn, row.id, now, action, {"ip": ip, "sessions_revoked": revoked})
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
        row = await self._find_by_id(user_id)
        if row is None:
            return LoginResult("invalid")
        check_password(new, row.srn or row.username)
        if row.password_hash is None or len(current) > MAX_LENGTH:
            await self._dummy_verify(current)
            current_ok = False
        else:
            current_ok = await self._verify(row.password_hash, current)
        new_hash = await self.hash_password(new) if current_ok else None
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await self._current(conn, user_id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._refuse_locked(conn, cur, now, "change_password", ip)
            if locked is not None:
                return locked
            if not current_ok or new_hash is None or cur.password_hash != row.password_hash:
                return await self._fail(conn, user_id, now, "change_password", ip)
            await conn.execute(update(_USERS).where(_USERS.c.id == user_id).values(password_hash=new_hash))
            keep = [] if keep_session is None else [token_id(keep_session), keep_session]
            revoked = (
                await conn.execute(
                    update(_SESSIONS)
                    .where(
                        _SESSIONS.c.user_id == user_id,
                        _SESSIONS.c.revoked_at.is_(None),
                        _SESSIONS.c.id.not_in(keep),
                    )
                    .values(revoked_at=now)
                )
            ).rowcount
            user = await self._succeed(
                conn, user_id, now, "password_changed", {"ip": ip, "sessions_revoked": revoked}
            )
        return LoginResult("ok", user=user)

    async def _find_by_id(self, user_id: int) -> Row[Any] | None:
        async with self._db.engine.connect() as conn:
            return await self._current(conn, user_id)

    async def verify_password(self, user_id: int, password: str, *, ip: str | None = None) -> LoginResult:
        """Re-check a logged-in user's password (before a sensitive change), with the lock-out rules."""
        row = await self._find_by_id(user_id)
        if row is None or row.password_hash is None or len(password) > MAX_LENGTH:
            await self._dummy_verify(password)
            ok = False
        else:
            ok = await self._verify(row.password_hash, password)
        if row is None:
            return LoginResult("invalid")
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            cur = await self._current(conn, user_id)
            if cur is None:
                return LoginResult("invalid")
            locked = await self._refuse_locked(conn, cur, now, "reauth", ip)
            if locked is not None:
                return locked
            if not ok or cur.password_hash != row.password_hash:
                return await self._fail(conn, user_id, now, "reauth", ip)
            await reset_failures(conn, user_id)
            return LoginResult("ok", user=user_from_row(cur))

    async def disable_totp(self, user_id: int, password: str, *, ip: str | None = None) -> LoginResult:
        """Turn TOTP off after re-checking the password ('invalid'/'locked' as for logins)."""
        check = await self.verify_password(user_id, password, ip=ip)
        if not check.ok:
            return check
        await self.totp.disable(user_id)
        user = await self._find_by_id(user_id)
        return LoginResult("ok", user=None if user is None else user_from_row(user))

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

    # -- web sessions -----------------------------------------------------------------------------

    async def create_web_session(
        self, user_id: int, remember: bool, user_agent: str | None, ip: str | None
    ) -> tuple[str, WebSession]:
        """A new login: returns (raw cookie token, session). Only the token's sha256 is stored."""
        raw = secrets.token_urlsafe(32)
        now = self._clock.now()
        session = WebSession(
            id=token_id(raw),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + REMEMBER_SECONDS if remember else None,
            revoked_at=None,
            remember=remember,
            user_agent=user_agent,
            ip=ip,
        )
        async with self._db.engine.begin() as conn:
            await conn.execute(
                _SESSIONS.insert().values(
                    id=session.id,
                    user_id=user_id,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    expires_at=session.expires_at,
                    revoked_at=None,
                    remember=remember,
                    user_agent=user_agent,
                    ip=ip,
                )
            )
        return raw, session

    async def resolve_session(self, raw_token: str) -> tuple[User, WebSession] | None:
        """The live session for a cookie token: None if unknown, revoked or expired."""
        if not raw_token:
            return None
        async with self._db.engine.connect() as conn:
            query = select(_SESSIONS).where(_SESSIONS.c.id == token_id(raw_token))
            srow = (await conn.execute(query)).first()
            if srow is None:
                return None
            session = _session_from_row(srow)
            if session.revoked_at is not None or self._clock.now() >= session.hard_expiry:
                return None
            urow = (await conn.execute(select(_USERS).where(_USERS.c.id == session.user_id))).first()
        if urow is None:
            return None
        return user_from_row(urow), session

    async def revoke_session(self, raw_token_or_id: str) -> bool:
        """Revoke by raw cookie token or by stored id; True if a live session was revoked."""
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(_SESSIONS)
                .where(
                    _SESSIONS.c.id.in_([token_id(raw_token_or_id), raw_token_or_id]),
                    _SESSIONS.c.revoked_at.is_(None),
                )
                .values(revoked_at=self._clock.now())
            )
            return result.rowcount > 0

    async def revoke_all_for_user(self, user_id: int) -> int:
        """Revoke every session of a user (password change, "log out everywhere"); returns count."""
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(_SESSIONS)
                .where(_SESSIONS.c.user_id == user_id, _SESSIONS.c.revoked_at.is_(None))
                .values(revoked_at=self._clock.now())
            )
            return result.rowcount

    async def list_sessions(self, user_id: int) -> list[WebSession]:
        """The user's live (not revoked, not expired) web sessions, newest first."""
        now = self._clock.now()
        async with self._db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(_SESSIONS)
                    .where(
                        _SESSIONS.c.user_id == user_id,
                        _SESSIONS.c.revoked_at.is_(None),
                        or_(_SESSIONS.c.expires_at.is_(None), _SESSIONS.c.expires_at > now),
                    )
                    .order_by(_SESSIONS.c.created_at.desc(), _SESSIONS.c.id)
                )
            ).all()
        sessions = [_session_from_row(r) for r in rows]
        return [s for s in sessions if now < s.hard_expiry]

    async def revoke_by_public_id(self, user_id: int, public_id: str) -> bool:
        """Revoke one of the user's own sessions by its `public_id`; False if none matched."""
        public_id = public_id.strip().lower()
        if not _PUBLIC_ID.fullmatch(public_id):
            return False
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            result = await conn.execute(
                update(_SESSIONS)
                .where(
                    _SESSIONS.c.user_id == user_id,
                    func.substr(_SESSIONS.c.id, 1, PUBLIC_ID_LENGTH) == public_id,
                    _SESSIONS.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            if result.rowcount == 0:
                return False
            await audit.append(
                conn,
                at=now,
                action="web_session_revoked",
                actor=user_id,
                subject=f"user:{user_id}",
                details={"session": public_id},
            )
            return True
