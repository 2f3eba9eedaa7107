"""Server-side web sessions: what a login cookie stands for, until it expires or is revoked.

The cookie carries a random token; the database keeps only its sha256 (the session id), so a
leaked database cannot be replayed as cookies. Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.tables import users as _USERS
from proctor.tables import web_sessions as _SESSIONS
from proctor.users import User, user_from_row

REMEMBER_SECONDS = 30 * 24 * 3600.0
"""Lifetime of a "remember me" session (persistent cookie)."""
SESSION_MAX_AGE_SECONDS = 12 * 3600.0
"""Server-side cap on a browser-session cookie (expires_at is NULL for those)."""
PUBLIC_ID_LENGTH = 16
_PUBLIC_ID = re.compile(r"[0-9a-f]{16}")


def token_id(raw_token: str) -> str:
    """The stored id of a session token: sha256 hex."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


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


async def revoke_for_user(conn: AsyncConnection, user_id: int, now: float, *, keep: str | None = None) -> int:
    """Revoke every live session of a user but `keep` (raw token or stored id); returns how many.

    Takes the caller's connection so that a password reset or change and the revocation it implies
    commit together.
    """
    where = [_SESSIONS.c.user_id == user_id, _SESSIONS.c.revoked_at.is_(None)]
    if keep is not None:
        where.append(_SESSIONS.c.id.not_in([token_id(keep), keep]))
    result = await conn.execute(update(_SESSIONS).where(*where).values(revoked_at=now))
    return int(result.rowcount)


class WebSessions:
    """The web-session store: create on login, resolve per request, list and revoke."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(
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

    async def resolve(self, raw_token: str) -> tuple[User, WebSession] | None:
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

    async def revoke(self, raw_token_or_id: str) -> bool:
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

    async def revoke_all(self, user_id: int) -> int:
        """Revoke every session of a user ("log out everywhere"); returns how many."""
        async with self._db.engine.begin() as conn:
            return await revoke_for_user(conn, user_id, self._clock.now())

    async def list_for_user(self, user_id: int) -> list[WebSession]:
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
