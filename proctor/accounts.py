"""Logins: argon2id passwords and server-side web sessions.

The cookie carries a random token; the database keeps only its sha256 (the session id), so a
leaked database cannot be replayed as cookies. Each session has its own CSRF token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.engine import Row

from proctor.clock import Clock
from proctor.db import Database
from proctor.tables import users as _USERS
from proctor.tables import web_sessions as _SESSIONS

REMEMBER_SECONDS = 30 * 24 * 3600.0
"""Lifetime of a "remember me" session (persistent cookie)."""
SESSION_MAX_AGE_SECONDS = 12 * 3600.0
"""Server-side cap on a browser-session cookie (expires_at is NULL for those)."""


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
    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher | None = None) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher or default_hasher()
        self._dummy_hash: str | None = None

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

    async def authenticate(self, srn_or_username: str, password: str) -> User | None:
        """The user whose SRN (or, failing that, staff username) and password match, else None.

        An unknown login, or a user without a password yet, still costs one hash verification, so
        response time does not reveal which logins exist.
        """
        login = srn_or_username.strip()
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(_USERS).where(_USERS.c.srn == normalize_srn(login)))).first()
            if row is None:
                row = (
                    await conn.execute(select(_USERS).where(_USERS.c.username == normalize_username(login)))
                ).first()
        if row is None or row.password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash_password(secrets.token_urlsafe(16))
            await self._verify(self._dummy_hash, password)
            return None
        if not await self._verify(row.password_hash, password):
            return None
        if self._hasher.check_needs_rehash(row.password_hash):
            new_hash = await self.hash_password(password)
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    update(_USERS)
                    .where(_USERS.c.id == row.id, _USERS.c.password_hash == row.password_hash)
                    .values(password_hash=new_hash)
                )
        return user_from_row(row)

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
