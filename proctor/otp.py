"""One-time codes by SMS for login, first-time activation and password reset.

A code is 6 digits from `secrets`; only HMAC-SHA256(key = per-row random salt [+ server pepper],
"user_id:purpose:code") is stored. A code expires (5 minutes; 15 for a reset), allows 5 attempts
(a slot is taken atomically before comparing, so parallel guesses cannot exceed it), is compared in
constant time, works once, and is superseded by the next code of the same purpose. A new code is
refused within 30 s of the previous one and beyond 10 per hour (per user and purpose).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from enum import StrEnum
from typing import Literal, get_args

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.outbox import OutboxSender, SmsSender
from proctor.tables import otp_codes as _OTP
from proctor.tables import users as _USERS

OtpPurpose = Literal["login", "activate", "reset"]
PURPOSES: tuple[str, ...] = get_args(OtpPurpose)

DEFAULT_VALIDITY_S: Mapping[str, float] = {"login": 300.0, "activate": 300.0, "reset": 900.0}
RESEND_COOLDOWN_S = 30.0
MAX_ATTEMPTS = 5
MAX_PER_HOUR = 10
CODE_DIGITS = 6
OTP_RETENTION_S = 86400.0
"""Expired codes older than this may be purged (the hourly cap only looks back one hour)."""


class OtpResult(StrEnum):
    OK = "ok"
    INVALID = "invalid"
    EXPIRED = "expired"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    NONE = "none"  # no live code: never requested, used, or superseded


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"OTP purpose must be one of {PURPOSES}, got {purpose!r}")


def code_hash(salt: str, user_id: int, purpose: str, code: str, pepper: bytes = b"") -> str:
    key = pepper + bytes.fromhex(salt)
    return hmac.new(key, f"{user_id}:{purpose}:{code}".encode(), hashlib.sha256).hexdigest()


def normalize_code(code: str) -> str:
    """Blanks removed (people type "123 456"); anything else is compared as typed."""
    return "".join(code.split())


def mask_mobile(mobile: str) -> str:
    digits = [c for c in mobile if c.isdigit()]
    return "…" + "".join(digits[-4:])


def sms_text(purpose: str, code: str, validity_s: float) -> str:
    minutes = max(1, round(validity_s / 60))
    return f"proctor: your {purpose} code is {code}. It expires in {minutes} minutes. Never share it."


async def check_code(
    conn: AsyncConnection,
    *,
    user_id: int,
    purpose: str,
    code: str,
    now: float,
    consume: bool = True,
    max_attempts: int = MAX_ATTEMPTS,
    pepper: bytes = b"",
) -> OtpResult:
    """Check `code` against the user's live code of `purpose`, inside the caller's transaction.

    Every comparison uses one attempt. With `consume=False` a right code is left usable (and its
    attempt given back): call `check_code` again with `consume=True` to use it.
    """
    _check_purpose(purpose)
    row = (
        await conn.execute(
            select(_OTP)
            .where(_OTP.c.user_id == user_id, _OTP.c.purpose == purpose)
            .order_by(_OTP.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None or row.consumed_at is not None:
        return OtpResult.NONE
    if now >= row.expires_at:
        return OtpResult.EXPIRED
    # Take an attempt slot first: concurrent guesses cannot get more than max_attempts compares.
    taken = (
        await conn.execute(
            update(_OTP)
            .where(_OTP.c.id == row.id, _OTP.c.consumed_at.is_(None), _OTP.c.attempts < max_attempts)
            .values(attempts=_OTP.c.attempts + 1)
            .returning(_OTP.c.attempts)
        )
    ).first()
    if taken is None:  # out of attempts, or used/superseded since the read
        now_row = (await conn.execute(select(_OTP.c.consumed_at).where(_OTP.c.id == row.id))).first()
        if now_row is None or now_row.consumed_at is not None:
            return OtpResult.NONE
        return OtpResult.TOO_MANY_ATTEMPTS
    typed = normalize_code(code)
    well_formed = len(typed) == CODE_DIGITS and typed.isascii() and typed.isdigit()
    expected = str(row.code_hash)
    actual = code_hash(row.salt, user_id, purpose, typed if well_formed else "x", pepper)
    if not (hmac.compare_digest(actual, expected) and well_formed):
        return OtpResult.INVALID
    if consume:
        used = await conn.execute(
            update(_OTP).where(_OTP.c.id == row.id, _OTP.c.consumed_at.is_(None)).values(consumed_at=now)
        )
        if used.rowcount != 1:
            return OtpResult.NONE
    else:
        await conn.execute(update(_OTP).where(_OTP.c.id == row.id).values(attempts=_OTP.c.attempts - 1))
    return OtpResult.OK


class Otps:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sender: SmsSender | None = None,
        *,
        validity_s: Mapping[str, float] | None = None,
        cooldown_s: float = RESEND_COOLDOWN_S,
        max_attempts: int = MAX_ATTEMPTS,
        max_per_hour: int = MAX_PER_HOUR,
        pepper: bytes = b"",
    ) -> None:
        self._db = db
        self._clock = clock
        self.sender: SmsSender = sender if sender is not None else OutboxSender(db, clock)
        self.validity_s: dict[str, float] = {**DEFAULT_VALIDITY_S, **(validity_s or {})}
        self.cooldown_s = cooldown_s
        self.max_attempts = max_attempts
        self.max_per_hour = max_per_hour
        self.pepper = pepper

    async def request(self, user_id: int, purpose: str) -> bool:
        """Create and send a new code; False (nothing sent) without a mobile, in the cooldown or
        beyond the hourly cap. Older live codes of that purpose stop working."""
        _check_purpose(purpose)
        now = self._clock.now()
        validity = self.validity_s[purpose]
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        async with audit.write_transaction(self._db) as conn:
            mobile = (await conn.execute(select(_USERS.c.mobile).where(_USERS.c.id == user_id))).scalar()
            if not mobile or not str(mobile).strip():
                return False
            last, recent = (
                await conn.execute(
                    select(func.max(_OTP.c.created_at), func.count()).where(
                        _OTP.c.user_id == user_id, _OTP.c.purpose == purpose, _OTP.c.created_at > now - 3600.0
                    )
                )
            ).one()
            if last is not None and now - last < self.cooldown_s:
                return False
            if recent >= self.max_per_hour:
                return False
            await conn.execute(
                update(_OTP)
                .where(_OTP.c.user_id == user_id, _OTP.c.purpose == purpose, _OTP.c.consumed_at.is_(None))
                .values(consumed_at=now)
            )
            salt = secrets.token_hex(16)
            await conn.execute(
                _OTP.insert().values(
                    user_id=user_id,
                    purpose=purpose,
                    salt=salt,
                    code_hash=code_hash(salt, user_id, purpose, code, self.pepper),
                    created_at=now,
                    expires_at=now + validity,
                    attempts=0,
                    consumed_at=None,
                )
            )
            await audit.append(
                conn,
                at=now,
                action="otp_sent",
                actor=user_id,
                subject=f"user:{user_id}",
                details={"purpose": purpose, "to": mask_mobile(str(mobile))},
            )
        # Outside the transaction: a slow gateway must not hold the database.
        await self.sender.send(str(mobile), sms_text(purpose, code, validity), user_id)
        return True

    async def verify(self, user_id: int, purpose: str, code: str) -> OtpResult:
        """Check and (on success) use up the user's code of `purpose`. No lock-out here: see Logins."""
        async with self._db.engine.begin() as conn:
            return await check_code(
                conn,
                user_id=user_id,
                purpose=purpose,
                code=code,
                now=self._clock.now(),
                max_attempts=self.max_attempts,
                pepper=self.pepper,
            )
