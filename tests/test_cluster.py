"""Two media nodes sharing one Redis and one ledger: a proctor on node A sees students on node B, and
a student has one live stream across nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.clients import StreamClient, moving_frames
from bench.redis_server import RedisServer
from models.frames import photo_to_frame
from proctor.passwords import hash_password
from proctor.session_records import session_record, session_timeline
from server.app import create_app
from server.keys import CLUSTER, LIVE, SERVICES

from .helpers import PASSWORD, REDIS_SECRET, enroll_student, login, settings_for, topic


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if not RedisServer.available():
        pytest.fail("redis-server is not installed (make test installs it)")
    server = RedisServer(tmp_path)
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)


@pytest.fixture
async def nodes(aiohttp_client: Any, engine: Any, references: Any, redis_server: RedisServer,
                tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    a = await aiohttp_client(create_app(settings_for(tmp_path, redis_url=redis_server.url, node_id="A"),
                                        engine_factory=lambda s: engine))
    b = await aiohttp_client(create_app(settings_for(tmp_path, redis_url=redis_server.url, node_id="B"),
                                        engine_factory=lambda s: engine))  # same SQLite ledger as A
    await enroll_student(a.app, "MAD001", references["madonna"])
    await enroll_student(a.app, "BEN001", references["ben_afflek"])
    await a.app[SERVICES].students.add_staff("pat", "Pat", "proctor", hash_password(PASSWORD))
    yield a, b


async def events_until(ws: Any, predicate: Any, within: float = 60) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while not predicate(seen):
            seen.append(await ws.receive_json())
    return seen


async def test_a_proctor_on_one_node_sees_students_on_both(nodes: tuple[Any, Any], photos: Any,
                                                           aiohttp_client: Any) -> None:
    a, b = nodes
    proctor = await aiohttp_client(a.server)
    assert (await proctor.post("/api/auth/login", json={"username": "pat", "password": PASSWORD})).status == 200
    streams = []
    try:
        async with proctor.ws_connect("/api/proctor/events") as ws:
            for node, srn, face in ((a, "MAD001", photos["madonna"][1]), (b, "BEN001", photos["ben_afflek"][0])):
                c = StreamClient(node, await login(node, srn))
                streams.append(c)
                await c.start(moving_frames(lambda s, f=face: photo_to_frame(f, shift=s)), topic(node))
            events = await events_until(ws, lambda seen: {e.get("student", {}).get("srn") for e in seen
                                                          if e["type"] == "state_changed"} >= {"MAD001", "BEN001"})
        started = {e["student"]["srn"]: e.get("origin") for e in events if e["type"] == "session_started"}
        assert started == {"MAD001": None, "BEN001": "B"}  # local events carry no origin; B's say "B"
        assert b.app[CLUSTER].forwarded > 0 and a.app[CLUSTER].received > 0
    finally:
        for c in streams:
            await c.close()


async def test_one_live_stream_per_student_across_nodes(nodes: tuple[Any, Any], photos: Any,
                                                        aiohttp_client: Any) -> None:
    a, b = nodes
    face = photos["madonna"][1]
    on_a = StreamClient(a, await login(a, "MAD001"))
    phone = await aiohttp_client(b.server)
    on_b = StreamClient(phone, await login(phone, "MAD001"))
    try:
        await on_a.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(a))
        await on_a.samples(1)
        await on_b.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(b))
        assert (await on_a.wait_ended())["reason"] == "replaced"
        assert len(a.app[LIVE]) == 0 and len(b.app[LIVE]) == 1
        await on_b.samples(1)
        old = await session_record(a.app[SERVICES].db, on_a.session_id)
        assert old.ended_at is not None and old.end_reason == "replaced"
    finally:
        await on_a.close()
        await on_b.close()


async def test_a_session_ended_on_another_node_earns_nothing_more(nodes: tuple[Any, Any], photos: Any, engine: Any,
                                                                  redis_server: RedisServer) -> None:
    """Node B ends a session that node A streams (a hand-over whose control message never reached A,
    or a proctor on B): the shared ledger refuses A's next write and A stops, so no second counts twice."""
    from models.worker import Worker, WorkerConfig, redis_client

    a, b = nodes
    face = photos["madonna"][1]
    worker = Worker(engine, engine.model_name, engine.spec.dim, redis_client(redis_server.url),
                    WorkerConfig(consumer="w1"), secret=REDIS_SECRET)
    await worker.start()
    on_a = StreamClient(a, await login(a, "MAD001"))
    try:
        await on_a.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(a))
        await on_a.wait_for(lambda st: bool(st) and st[-1]["credited_seconds"] > 0)
        services_b = b.app[SERVICES]
        assert await services_b.ledger.end_session(on_a.session_id, services_b.clock.now(), "replaced")
        assert (await on_a.wait_ended())["reason"] == "replaced"  # A learnt it from the ledger alone
        assert len(a.app[LIVE]) == 0
        timeline = await session_timeline(services_b.db, on_a.session_id, 0.0)
        ended_at = timeline.session.ended_at
        assert ended_at is not None and timeline.intervals
        assert all(i.end <= ended_at for i in timeline.intervals)
        assert all(x.at <= ended_at for x in timeline.samples)
    finally:
        await on_a.close()
        await worker.aclose()


async def test_an_ended_login_closes_its_stream_and_sockets_on_every_node(nodes: tuple[Any, Any], photos: Any,
                                                                        aiohttp_client: Any) -> None:
    a, b = nodes
    face = photos["madonna"][1]
    laptop = StreamClient(a, await login(a, "MAD001"))  # the student's stream lives on node A
    phone = await aiohttp_client(b.server)
    phone_csrf = await login(phone, "MAD001")  # a second login, served by node B
    proctor_a = await aiohttp_client(a.server)
    assert (await proctor_a.post("/api/auth/login", json={"username": "pat", "password": PASSWORD})).status == 200
    proctor_b = await aiohttp_client(b.server)
    resp = await proctor_b.post("/api/auth/login", json={"username": "pat", "password": PASSWORD})
    proctor_b_csrf = (await resp.json())["csrf_token"]
    try:
        await laptop.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(a))
        await laptop.samples(1)
        async with proctor_a.ws_connect("/api/proctor/events") as ws:
            # The proctor revokes, from node B, the login whose event socket is open on node A.
            listed = await (await proctor_b.get("/api/auth/sessions")).json()
            other = next(s for s in listed["sessions"] if not s["current"])
            revoked = await proctor_b.delete(f"/api/auth/sessions/{other['id']}",
                                             headers={"X-CSRF-Token": proctor_b_csrf})
            assert revoked.status == 200
            async with asyncio.timeout(30):
                while (await ws.receive()).type.name not in ("CLOSE", "CLOSED", "CLOSING"):
                    pass
            assert ws.close_code == 4001
        # The student changes the password on node B: the laptop's login is revoked, and its stream
        # on node A ends too.
        changed = await phone.post("/api/auth/password/change", headers={"X-CSRF-Token": phone_csrf},
                                   json={"current_password": PASSWORD, "new_password": "a much newer passphrase"})
        assert changed.status == 200, await changed.text()
        assert (await laptop.wait_ended())["reason"] == "password_changed"
        assert len(a.app[LIVE]) == 0
    finally:
        await laptop.close()


async def test_a_stream_is_verified_by_a_redis_worker_and_credited(aiohttp_client: Any, engine: Any,
                                                                    references: Any, photos: Any,
                                                                    redis_server: RedisServer, tmp_path: Path) -> None:
    from models.worker import Worker, WorkerConfig, redis_client

    node = await aiohttp_client(create_app(settings_for(tmp_path, redis_url=redis_server.url, node_id="A"),
                                           engine_factory=lambda s: engine))
    await enroll_student(node.app, "MAD001", references["madonna"])
    worker = Worker(engine, engine.model_name, engine.spec.dim, redis_client(redis_server.url),
                    WorkerConfig(consumer="w1"), secret=REDIS_SECRET)
    await worker.start()
    c = StreamClient(node, await login(node, "MAD001"))
    face = photos["madonna"][1]
    try:
        await c.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(node))
        await c.wait_for(lambda st: bool(st) and st[-1]["credited_seconds"] >= 2)
        await worker.wait_until(lambda st: st.verdicts >= 3, 10)  # counted just after the node sees it
        assert c.statuses[-1]["reason"] == "ok"
        text = await (await node.get("/metrics")).text()
        assert "proctor_jobs_stream_length" in text
        ready = await (await node.get("/readyz")).json()
        assert ready["redis"] is True and ready["ready"] is True
    finally:
        await c.close()
        await worker.aclose()
