"""Hardening of the sign-in routes (issue 10), over HTTP against a real server: locked logins cost
nothing and still count per address, IPv6 clients count per /64, and code failures all look alike."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from proctor.audit import Audit
from proctor.clock import FakeClock
from proctor.passwords import Hasher, hash_password
from server.app import create_app
from server.keys import BACKGROUND, SERVICES

from .fakes import fast_hasher
from .helpers import PASSWORD, settings_for


@pytest.fixture
async def rig(aiohttp_client: Any, engine: Any, tmp_path: Path) -> Any:
    clock = FakeClock(time.time())
    # The test client is 127.0.0.1; as a trusted proxy its X-Forwarded-For names the "client".
    app = create_app(settings_for(tmp_path, trusted_proxies=["127.0.0.1"]), clock=clock,
                     engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    accounts = app[SERVICES].accounts
    accounts._hasher = Hasher(fast_hasher())  # these tests count hashes; they need not pay for them
    await app[SERVICES].students.add_student("MAD001", "Student MAD001", "+919800000002",
                                             hash_password(PASSWORD, fast_hasher()))
    await app[SERVICES].students.add_student("NEW001", "New Student", "+919800000001", None)
    client.clock = clock
    return client


def src(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def attempt(client: Any, ip: str, srn: str = "MAD001", password: str = "guess") -> int:
    resp = await client.post("/api/auth/login", json={"srn": srn, "password": password}, headers=src(ip))
    return int(resp.status)


def count_hashes(client: Any) -> list[int]:
    hasher = client.app[SERVICES].accounts._hasher
    calls: list[int] = []
    verify = hasher.verify

    async def counting(stored: str | None, password: str) -> bool:
        calls.append(1)
        return bool(await verify(stored, password))

    hasher.verify = counting
    return calls


async def test_a_locked_login_is_refused_before_hashing_and_counts_per_address(rig: Any) -> None:
    for _ in range(5):
        await attempt(rig, "203.0.113.7")  # the fifth locks MAD001
    hashes = count_hashes(rig)
    statuses = [await attempt(rig, "203.0.113.7") for _ in range(40)]
    # 5 failures + 15 refusals fill the address's window of 20: the rest are 429 before any work.
    assert statuses == [423] * 15 + [429] * 25
    assert hashes == []  # no argon2id hash for a locked login
    assert await attempt(rig, "198.51.100.9", password=PASSWORD) == 423  # another address: still locked
    # Unknown logins lock alike, and are refused before hashing too.
    for _ in range(5):
        await attempt(rig, "198.51.100.20", srn="ZZZ999")
    assert len(hashes) == 5
    assert await attempt(rig, "198.51.100.21", srn="ZZZ999") == 423 and len(hashes) == 5


async def test_locked_refusals_are_one_audit_row_per_window(rig: Any) -> None:
    for _ in range(5):
        await attempt(rig, "203.0.113.7")
    for i in range(30):  # a botnet: every try from a fresh address
        assert await attempt(rig, f"10.0.{i}.1") == 423
    audit = Audit(rig.app[SERVICES].db, rig.app[SERVICES].clock)
    locked = [e for e in await audit.recent(500, action="login_failed") if e.details.get("reason") == "locked"]
    assert len(locked) == 1
    rig.clock.advance(61)
    assert await attempt(rig, "10.1.0.1") == 423
    locked = [e for e in await audit.recent(500, action="login_failed") if e.details.get("reason") == "locked"]
    assert len(locked) == 2 and locked[0].details["collapsed_since_last_row"] == 29


async def test_ipv6_clients_count_per_64(rig: Any) -> None:
    statuses = [await attempt(rig, f"2001:db8:1:2::{i:x}", srn=f"NOONE{i}") for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429  # 21 addresses, one /64
    assert await attempt(rig, "2001:db8:1:3::1", srn="NOONE99") == 401  # the next /64 is another client
    assert await attempt(rig, "::ffff:192.0.2.1", srn="NOONE98") == 401


async def codes_refused(client: Any, path: str, srn: str, ip: str) -> tuple[int, Any]:
    body: dict[str, Any] = {"srn": srn, "code": "123456"}
    if path != "/api/auth/otp/verify":
        body["new_password"] = "violet submarine orchard"
    resp = await client.post(path, json=body, headers=src(ip))
    return resp.status, await resp.json()


@pytest.mark.parametrize("path", ["/api/auth/otp/verify", "/api/auth/activate", "/api/auth/password/reset"])
async def test_code_failures_do_not_tell_which_srns_exist(rig: Any, path: str) -> None:
    # Known with no code waiting, known but already active (for /activate), and unknown: all alike.
    answers = set()
    for i, srn in enumerate(("MAD001", "NEW001", "ZZZ999")):
        status, body = await codes_refused(rig, path, srn, f"192.0.2.{i}")
        answers.add((status, str(body)))
    assert len(answers) == 1, answers
    status, body = next(iter(answers))
    assert status == 401 and "invalid_code" in body
    audit = Audit(rig.app[SERVICES].db, rig.app[SERVICES].clock)
    details = [e.details for e in await audit.recent(10, action="login_failed")]
    assert any(d.get("otp") == "none" or d.get("reason") == "already_active" for d in details)  # the detail


class GatedSms:
    """An SmsSender that holds every send until `gate` opens."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.sent: list[str] = []

    async def send(self, mobile: str, text: str, user_id: int | None) -> None:
        await self.gate.wait()
        self.sent.append(mobile)


async def test_send_a_code_answers_before_any_lookup_or_sms(rig: Any) -> None:
    sms = GatedSms()
    rig.app[SERVICES].accounts.otps.sender = sms
    answers = []
    async with asyncio.timeout(10):  # before the fix the known SRN's answer waited for the SMS
        for srn in ("MAD001", "ZZZ999"):
            resp = await rig.post("/api/auth/otp/request", json={"srn": srn}, headers=src("192.0.2.1"))
            answers.append((resp.status, await resp.json()))
    assert answers == [(202, {"ok": True})] * 2 and sms.sent == []
    sms.gate.set()
    await rig.app[BACKGROUND].drain()
    assert sms.sent == ["+919800000002"]  # sent after answering, to the known SRN only


async def test_send_a_code_is_limited_per_address(rig: Any) -> None:
    paths = ["/api/auth/otp/request", "/api/auth/activate/request", "/api/auth/password/forgot"]
    statuses = [(await rig.post(paths[i % 3], json={"srn": f"ZZZ{i}"}, headers=src("192.0.2.5"))).status
                for i in range(11)]
    assert statuses == [202] * 10 + [429]  # code_requests_per_ip = 10 across the three routes
    assert (await rig.post(paths[0], json={"srn": "ZZZ"}, headers=src("192.0.2.6"))).status == 202
    await rig.app[BACKGROUND].drain()
