"""TOTP second factor (RFC 6238, authenticator apps) with single-use recovery codes.

Setup stores a pending secret; `enable` turns it on once the user proves the app shows the right code,
and returns 10 recovery codes (only their sha256 is kept). A code is accepted in the current 30 s
step or one either side (pyotp's valid_window=1), and never twice: the last accepted step is kept,
so a shoulder-surfed or replayed code is refused. Failures count towards the account lock-out.

The secret itself is stored as is (an authenticator app needs the same secret): protect backups.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from typing import NamedTuple

import pyotp
import segno
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.lockout import LockPolicy, locked_for, register_failure, reset_failures
from proctor.tables import totp_recovery_codes as _RECOVERY
from proctor.tables import users as _USERS

ISSUER = "proctor"
RECOVERY_CODE_COUNT = 10
STEP_S = 30
VALID_WINDOW = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes


class TotpError(Exception):
    """A TOTP setup step that cannot be done."""


class TotpAlreadyEnabled(TotpError):
    def __init__(self) -> None:
        super().__init__("two-step verification is already on; turn it off first")


class TotpNotPending(TotpError):
    def __init__(self) -> None:
        super().__init__("no two-step verification setup in progress")


class InvalidTotpCode(TotpError):
    def __init__(self) -> None:
        super().__init__("that code is not the one the authenticator app shows now")


def qr_svg_data_url(text: str) -> str:
    """`text` as a QR code: an SVG in a base64 data URL (usable as an <img> src)."""
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="svg", scale=4, border=2, xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class TotpSetup(NamedTuple):
    secret: str
    otpauth_uri: str
    qr_svg_data_url: str


def _normalize(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def recovery_hash(code: str) -> str:
    return hashlib.sha256(("proctor-recovery:" + _normalize(code)).encode()).hexdigest()


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))  # ~49 bits
    return f"{raw[:5]}-{raw[5:]}"


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step (within ±VALID_WINDOW of now) whose code is `code`, else None."""
    typed = _normalize(code)
    if not (len(typed) == 6 and typed.isascii() and typed.isdigit()):
        return None
    totp = pyotp.TOTP(secret, interval=STEP_S)
    current = int(now // STEP_S)
    found: int | None = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), typed):  # check every step: no early exit
            found = step
    return found


async def check_second_factor(conn: AsyncConnection, user_id: int, code: str, now: float) -> bool:
    """A TOTP code (once per step) or an unused recovery code of an enabled user, used up on success.

    No lock-out bookkeeping: the caller counts the failure or resets the count.
    """
    row = (
        await conn.execute(
            select(_USERS.c.totp_secret, _USERS.c.totp_enabled, _USERS.c.totp_last_step).where(
                _USERS.c.id == user_id
            )
        )
    ).first()
    if row is None or not row.totp_enabled or not row.totp_secret:
        return False
    typed = _normalize(code)
    if typed.isdigit():
        step = matching_step(row.totp_secret, typed, now)
        if step is None:
            return False
        result = await conn.execute(
            update(_USERS)
            .where(
                _USERS.c.id == user_id,
                or_(_USERS.c.totp_last_step.is_(None), _USERS.c.totp_last_step < step),
            )
            .values(totp_last_step=step)
        )
        return result.rowcount == 1
    result = await conn.execute(
        update(_RECOVERY)
        .where(
            _RECOVERY.c.user_id == user_id,
            _RECOVERY.c.code_hash == recovery_hash(typed),
            _RECOVERY.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return result.rowcount == 1


class Totp:
    def __init__(self, db: Database, clock: Clock, *, policy: LockPolicy | None = None) -> None:
        self._db = db
        self._clock = clock
        self.policy = policy or LockPolicy()

    async def begin_setup(self, user_id: int) -> TotpSetup:
        """A new pending secret: (secret, otpauth:// URI, QR code as an SVG data URL).

        Raises TotpAlreadyEnabled while two-step verification is on, LookupError for an unknown user.
        """
        secret = pyotp.random_base32()
        async with self._db.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(_USERS.c.srn, _USERS.c.username, _USERS.c.totp_enabled).where(_USERS.c.id == user_id)
                )
            ).first()
            if row is None:
                raise LookupError(f"no user {user_id}")
            if row.totp_enabled:
                raise TotpAlreadyEnabled()
            result = await conn.execute(
                update(_USERS)
                .where(_USERS.c.id == user_id, _USERS.c.totp_enabled.is_(False))
                .values(totp_secret=secret, totp_last_step=None)
            )
            if result.rowcount != 1:
                raise TotpAlreadyEnabled()
        account = str(row.srn or row.username)
        uri = pyotp.TOTP(secret, interval=STEP_S).provisioning_uri(name=account, issuer_name=ISSUER)
        return TotpSetup(secret, uri, qr_svg_data_url(uri))

    async def enable(self, user_id: int, code: str) -> list[str]:
        """Turn on two-step verification after checking `code`; the 10 recovery codes (shown once).

        Raises InvalidTotpCode, TotpNotPending, TotpAlreadyEnabled.
        """
        now = self._clock.now()
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        async with audit.write_transaction(self._db) as conn:
            row = (
                await conn.execute(
                    select(_USERS.c.totp_secret, _USERS.c.totp_enabled, _USERS.c.totp_last_step).where(
                        _USERS.c.id == user_id
                    )
                )
            ).first()
            if row is None or row.totp_secret is None:
                raise TotpNotPending()
            if row.totp_enabled:
                raise TotpAlreadyEnabled()
            step = matching_step(row.totp_secret, code, now)
            if step is None or (row.totp_last_step is not None and step <= row.totp_last_step):
                raise InvalidTotpCode()
            await conn.execute(
                update(_USERS).where(_USERS.c.id == user_id).values(totp_enabled=True, totp_last_step=step)
            )
            await conn.execute(delete(_RECOVERY).where(_RECOVERY.c.user_id == user_id))
            await conn.execute(
                _RECOVERY.insert(),
                [
                    {"user_id": user_id, "code_hash": recovery_hash(c), "created_at": now, "used_at": None}
                    for c in codes
                ],
            )
            await audit.append(conn, at=now, action="totp_enabled", actor=user_id, subject=f"user:{user_id}")
        return codes

    async def verify(self, user_id: int, code_or_recovery: str) -> bool:
        """A TOTP code or recovery code; counts towards (and respects) the account lock-out."""
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            if await locked_for(conn, user_id, now) is not None:
                return False
            if await check_second_factor(conn, user_id, code_or_recovery, now):
                await reset_failures(conn, user_id)
                return True
            exists = (await conn.execute(select(_USERS.c.id).where(_USERS.c.id == user_id))).first()
            if exists is not None:
                await audit.append(
                    conn,
                    at=now,
                    action="login_failed",
                    actor=user_id,
                    subject=f"user:{user_id}",
                    details={"via": "totp"},
                )
                await register_failure(conn, user_id, now, self.policy, details={"via": "totp"})
            return False

    async def disable(self, user_id: int, *, actor: int | None = None) -> bool:
        """Turn two-step verification off (and forget secret and recovery codes); True if it was on."""
        now = self._clock.now()
        async with audit.write_transaction(self._db) as conn:
            was_on = (await conn.execute(select(_USERS.c.totp_enabled).where(_USERS.c.id == user_id))).scalar()
            if was_on is None:
                return False
            await conn.execute(
                update(_USERS)
                .where(_USERS.c.id == user_id)
                .values(totp_secret=None, totp_enabled=False, totp_last_step=None)
            )
            await conn.execute(delete(_RECOVERY).where(_RECOVERY.c.user_id == user_id))
            if not was_on:
                return False  # at most a pending setup, now forgotten
            await audit.append(
                conn,
                at=now,
                action="totp_disabled",
                actor=user_id if actor is None else actor,
                subject=f"user:{user_id}",
            )
            return True

    async def is_enabled(self, user_id: int) -> bool:
        async with self._db.engine.connect() as conn:
            return bool(
                (await conn.execute(select(_USERS.c.totp_enabled).where(_USERS.c.id == user_id))).scalar()
            )

    async def recovery_codes_left(self, user_id: int) -> int:
        async with self._db.engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count()).where(_RECOVERY.c.user_id == user_id, _RECOVERY.c.used_at.is_(None))
                    )
                ).scalar_one()
            )
