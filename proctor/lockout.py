"""Lock-out after repeated failures: per user (in the database) and per IP (in memory).

Per user: every failed password, SMS code or TOTP attempt adds one to `users.failed_logins`; the
`max_failures`-th locks the account until `now + lock_seconds` (and starts the count again), a
success resets the count. While locked even the right password is refused, with `retry_after_s`.

Logins that match no user get the same treatment from `PhantomLocks` (in memory), so "locked after 5
tries" does not tell an attacker which SRNs exist.

Per IP: `IpLimiter` is a sliding window of failures, for the server to consult before any work.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.tables import users as _USERS


@dataclass(frozen=True)
class LockPolicy:
    max_failures: int = 5
    lock_seconds: float = 900.0

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError(f"max_failures must be >= 1, got {self.max_failures}")
        if not math.isfinite(self.lock_seconds) or self.lock_seconds <= 0:
            raise ValueError(f"lock_seconds must be positive, got {self.lock_seconds}")


def retry_after(locked_until: float | None, now: float) -> float | None:
    """Seconds until the lock ends, or None if not locked."""
    if locked_until is None or locked_until <= now:
        return None
    return locked_until - now


async def locked_for(conn: AsyncConnection, user_id: int, now: float) -> float | None:
    """retry_after_s for a locked user (None if not locked or unknown)."""
    locked_until = (await conn.execute(select(_USERS.c.locked_until).where(_USERS.c.id == user_id))).scalar()
    return retry_after(locked_until, now)


async def register_failure(
    conn: AsyncConnection,
    user_id: int,
    now: float,
    policy: LockPolicy,
    *,
    details: dict[str, Any] | None = None,
) -> float | None:
    """Count one failure (atomically); if it locks the account, audit `lockout` and return retry_after_s.

    Call only when the user is not locked already (check `locked_for` first, in the same transaction).
    """
    count = _USERS.c.failed_logins + 1
    locks = count >= policy.max_failures
    row = (
        await conn.execute(
            update(_USERS)
            .where(_USERS.c.id == user_id)
            .values(
                failed_logins=case((locks, 0), else_=count),
                locked_until=case((locks, now + policy.lock_seconds), else_=_USERS.c.locked_until),
            )
            .returning(_USERS.c.locked_until)
        )
    ).first()
    if row is None:
        return None
    wait = retry_after(row.locked_until, now)
    if wait is not None:
        await audit.append(
            conn,
            at=now,
            action="lockout",
            actor=user_id,
            subject=f"user:{user_id}",
            details={"lock_seconds": policy.lock_seconds, **(details or {})},
        )
    return wait


async def reset_failures(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(
        update(_USERS)
        .where(_USERS.c.id == user_id, _USERS.c.failed_logins != 0)
        .values(failed_logins=0)
    )


class Lockout:
    """Operator view of the per-user lock."""

    def __init__(self, db: Database, clock: Clock, policy: LockPolicy | None = None) -> None:
        self._db = db
        self._clock = clock
        self.policy = policy or LockPolicy()

    async def status(self, user_id: int) -> float | None:
        """retry_after_s if the user is locked now, else None."""
        async with self._db.engine.connect() as conn:
            return await locked_for(conn, user_id, self._clock.now())

    async def unlock(self, user_id: int, *, actor: int | None = None) -> bool:
        """Lift a lock and clear the failure count; True if the user exists."""
        async with audit.write_transaction(self._db) as conn:
            result = await conn.execute(
                update(_USERS).where(_USERS.c.id == user_id).values(failed_logins=0, locked_until=None)
            )
            if result.rowcount == 0:
                return False
            await audit.append(
                conn, at=self._clock.now(), action="unlocked", actor=actor, subject=f"user:{user_id}"
            )
            return True


class PhantomLocks:
    """The lock-out rule for logins that match no user, in memory (bounded), so they look alike."""

    def __init__(self, clock: Clock, policy: LockPolicy, max_tracked: int = 10_000) -> None:
        self._clock = clock
        self._policy = policy
        self._max = max_tracked
        self._state: OrderedDict[str, tuple[int, float | None]] = OrderedDict()

    def check(self, key: str) -> float | None:
        _, locked_until = self._state.get(key, (0, None))
        return retry_after(locked_until, self._clock.now())

    def failure(self, key: str) -> float | None:
        """Count one failure (call when `check` said not locked); retry_after_s if it locks."""
        now = self._clock.now()
        count, locked_until = self._state.pop(key, (0, None))
        count += 1
        if count >= self._policy.max_failures:
            count, locked_until = 0, now + self._policy.lock_seconds
        self._state[key] = (count, locked_until)
        while len(self._state) > self._max:
            self._state.popitem(last=False)
        return retry_after(locked_until, now)


IPV6_PREFIX = 64


def address_key(ip: str) -> str:
    """What a per-address limit counts against: an IPv4 address, or an IPv6 client's /64.

    One IPv6 subscriber usually holds a whole /64 (often more), so counting single addresses would
    give every client 2^64 fresh ones. IPv4-mapped IPv6 addresses count as the IPv4 address.
    """
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, IPV6_PREFIX), strict=False))
    return str(addr)


class IpLimiter:
    """In-memory sliding window of failed attempts per IP address (per /64 for IPv6: `address_key`).

    `check(ip)` returns the seconds to wait when `limit` failures fell within the last `window_s`,
    else None; `failure(ip)` records one. Memory is bounded: at most `limit` times per IP, and the
    least recently seen IPs are forgotten beyond `max_tracked`.
    """

    def __init__(self, clock: Clock, limit: int = 20, window_s: float = 300.0, *, max_tracked: int = 100_000) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        if not math.isfinite(window_s) or window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self._clock = clock
        self.limit = limit
        self.window_s = float(window_s)
        self._max = max_tracked
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, ip: str, now: float) -> deque[float] | None:
        ip = address_key(ip)
        hits = self._hits.get(ip)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if not hits:
            del self._hits[ip]
            return None
        return hits

    def check(self, ip: str) -> float | None:
        now = self._clock.now()
        hits = self._recent(ip, now)
        if hits is None or len(hits) < self.limit:
            return None
        return max(0.0, hits[0] + self.window_s - now)

    def failure(self, ip: str) -> None:
        now = self._clock.now()
        hits = self._recent(ip, now)
        ip = address_key(ip)
        if hits is None:
            hits = deque(maxlen=self.limit)
            self._hits[ip] = hits
        else:
            self._hits.move_to_end(ip)
        hits.append(now)
        while len(self._hits) > self._max:
            self._hits.popitem(last=False)

    def reset(self, ip: str) -> None:
        self._hits.pop(address_key(ip), None)
