"""What a login attempt comes to, and the bookkeeping every credential flow shares.

Every attempt (password, SMS code, activation, reset, password change, TOTP) counts failures towards
the per-user lock-out (`proctor.lockout`) and writes the audit log (`proctor.audit`) in the same
transaction as its effect. A login that matches no user is locked out the same way (in memory) and
answers the same 'invalid', so logins cannot be enumerated.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.lockout import LockPolicy, PhantomLocks, register_failure, reset_failures, retry_after
from proctor.otp import OtpResult
from proctor.tables import users as _USERS
from proctor.users import User, normalize_srn, normalize_username, user_from_row

LOCKED_AUDIT_WINDOW_S = 60.0
"""Refusals of one locked login within this long after an audit row are counted, not written."""
MAX_TRACKED = 10_000

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


def _phantom_key(login: str) -> str:
    return login.strip().casefold()[:256]


async def current_row(conn: AsyncConnection, user_id: int) -> Row[Any] | None:
    """The user's row as the attempt's transaction sees it (it may have changed since `find`)."""
    return (await conn.execute(select(_USERS).where(_USERS.c.id == user_id))).first()


class LoginAttempts:
    """Finds the user a login names, and records each attempt's outcome: audit row and lock-out count."""

    def __init__(self, db: Database, clock: Clock, policy: LockPolicy) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy
        self._phantom = PhantomLocks(clock, policy)
        self._refusals: OrderedDict[str, tuple[float, int]] = OrderedDict()

    async def find(self, login: str) -> Row[Any] | None:
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

    async def find_by_id(self, user_id: int) -> Row[Any] | None:
        async with self._db.engine.connect() as conn:
            return await current_row(conn, user_id)

    async def unknown(self, login: str, via: str, ip: str | None) -> LoginResult:
        """What a login that matches no user gets: the same answers as a real one, lock-out included."""
        now = self._clock.now()
        key = _phantom_key(login)
        wait = self._phantom.check(key)
        if wait is not None:
            await self._refused(f"login:{key}", None, f"login:{login.strip()[:64]}", via, ip, now)
            return LoginResult("locked", retry_after_s=wait)
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

    async def locked_before_work(
        self, login: str, row: Row[Any] | None, via: str, ip: str | None
    ) -> LoginResult | None:
        """'locked' for a locked login, known or not, before any password hashing: a locked account
        must cost an attacker's requests nothing. None: go on with the attempt."""
        now = self._clock.now()
        if row is None:
            key = _phantom_key(login)
            wait = self._phantom.check(key)
            subject, actor = f"login:{login.strip()[:64]}", None
        else:
            key, wait, subject, actor = str(row.id), retry_after(row.locked_until, now), f"user:{row.id}", row.id
        if wait is None:
            return None
        await self._refused(("login:" if row is None else "user:") + key, actor, subject, via, ip, now)
        return LoginResult("locked", retry_after_s=wait)

    async def refuse_if_locked(
        self, conn: AsyncConnection, row: Row[Any], now: float, via: str, ip: str | None
    ) -> LoginResult | None:
        """'locked' (audited) while the user's lock-out lasts, else None: go on with the attempt."""
        wait = retry_after(row.locked_until, now)
        if wait is None:
            return None
        await self._refused(f"user:{row.id}", row.id, f"user:{row.id}", via, ip, now, conn)
        return LoginResult("locked", retry_after_s=wait)

    async def _refused(self, key: str, actor: int | None, subject: str, via: str, ip: str | None, now: float,
                       conn: AsyncConnection | None = None) -> None:
        """Audit a refusal of a locked login, collapsed: at most one row per login per
        `LOCKED_AUDIT_WINDOW_S`, which counts the refusals since the previous row. Every row takes
        the global audit lock, so one per attempt would let a hammered login stall every write."""
        start, count = self._refusals.pop(key, (None, 0))
        if start is not None and now - start < LOCKED_AUDIT_WINDOW_S:
            self._refusals[key] = (start, count + 1)
            return
        self._refusals[key] = (now, 0)
        while len(self._refusals) > MAX_TRACKED:
            self._refusals.popitem(last=False)
        details = {"via": via, "ip": ip, "reason": "locked", "collapsed_since_last_row": count}
        if conn is not None:
            await audit.append(conn, at=now, action="login_failed", actor=actor, subject=subject, details=details)
            return
        async with audit.write_transaction(self._db) as own:
            await audit.append(own, at=now, action="login_failed", actor=actor, subject=subject, details=details)

    async def fail(
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
        wait = await register_failure(conn, user_id, now, self._policy, details={"via": via, "ip": ip})
        if wait is not None:
            return LoginResult("locked", retry_after_s=wait, otp=otp)
        return LoginResult(status, otp=otp)

    @staticmethod
    async def succeed(conn: AsyncConnection, user_id: int, now: float, action: str, details: dict[str, Any]) -> User:
        """Reset the failure count, audit `action`, and return the user as it is now."""
        await reset_failures(conn, user_id)
        await audit.append(conn, at=now, action=action, actor=user_id, subject=f"user:{user_id}", details=details)
        row = await current_row(conn, user_id)
        assert row is not None
        return user_from_row(row)
