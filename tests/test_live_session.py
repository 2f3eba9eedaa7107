"""End to end over real aiortc peer connections: webcam frames in, verified time in the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from bench.clients import StreamClient, moving_frames
from models.frames import blank_frame, photo_to_frame, side_by_side
from proctor.db import Database
from proctor.session_records import session_record
from server.app import create_app
from server.keys import LIVE

from .helpers import INTERVAL, enroll_student, login, session_json, settings_for, topic


@pytest.fixture
async def server(aiohttp_client: Any, engine: Any, references: Any, tmp_path: Path) -> AsyncIterator[Any]:
    app = create_app(settings_for(tmp_path), engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"])
    yield client


@pytest.fixture
async def streamer(server: Any) -> AsyncIterator[Callable[[list[np.ndarray]], Any]]:
    clients: list[StreamClient] = []

    async def start(frames: list[np.ndarray]) -> StreamClient:
        c = StreamClient(server, await login(server))
        clients.append(c)
        await c.start(frames, topic(server))
        return c

    yield start
    for c in clients:
        await c.close()


async def test_enrolled_student_is_credited_for_the_time_streamed(server: Any, streamer: Any, photos: Any) -> None:
    face = photos["madonna"][1]
    c = await streamer(moving_frames(lambda s: photo_to_frame(face, shift=s)))
    last = await c.samples(5)
    assert c.connected_at is not None
    streamed = last["sampled_at"] - c.connected_at
    assert last["state"] == "verified" and last["reason"] == "ok"
    assert streamed - INTERVAL <= last["credited_seconds"] <= streamed  # within one interval, never more
    stored = await session_json(server, c.session_id)
    assert stored["credited_seconds"] >= last["credited_seconds"] - 1e-6  # persisted before it was shown
    assert stored["samples"]["verified"] >= 4 and stored["flags"] == []
    progress = await (await server.get("/api/progress")).json()
    first = progress["modules"][0]
    assert first["credited_seconds"] == pytest.approx(stored["credited_seconds"], abs=1e-3)
    assert first["topics"][0]["credited_seconds"] == pytest.approx(stored["credited_seconds"], abs=1e-3)


@pytest.mark.parametrize(
    ("case", "flag"),
    [("impostor", "mismatch"), ("empty", "no_face"), ("two_faces", "multiple_faces")],
)
async def test_failing_streams_earn_nothing_and_raise_a_sustained_flag(
        server: Any, streamer: Any, photos: Any, case: str, flag: str) -> None:
    madonna, ben = photos["madonna"][0], photos["ben_afflek"][0]
    make: dict[str, Callable[[tuple[int, int]], np.ndarray]] = {
        "impostor": lambda s: photo_to_frame(ben, shift=s),
        "empty": lambda s: blank_frame(seed=abs(s[0])),
        "two_faces": lambda s: np.roll(side_by_side(madonna, ben), s[0], axis=1),
    }
    c = await streamer(moving_frames(make[case]))
    await c.wait_for(lambda st: sum(1 for x in st if x["reason"] == flag) >= 3)
    last = c.statuses[-1]
    assert last["credited_seconds"] == 0 and last["state"] == "unverified"
    stored = await session_json(server, c.session_id)
    assert stored["credited_seconds"] == 0
    assert [f["kind"] for f in stored["flags"]] == [flag]


async def test_crediting_stops_when_the_stream_stops(server: Any, streamer: Any, photos: Any) -> None:
    face = photos["madonna"][1]
    c = await streamer(moving_frames(lambda s: photo_to_frame(face, shift=s)))
    await c.wait_for(lambda st: sum(1 for x in st if x["reason"] == "ok") >= 3)
    at_stop = c.statuses[-1]["credited_seconds"]
    c.stop_camera()
    await c.wait_for(lambda st: sum(1 for x in st if x["reason"] == "camera_lost") >= 3)
    last = c.statuses[-1]
    assert last["state"] == "unverified" and last["reason"] == "camera_lost"
    assert last["credited_seconds"] <= at_stop + INTERVAL + 0.1  # at most the interval in flight (+ timer jitter)
    stored = await session_json(server, c.session_id)
    assert "camera_lost" in [f["kind"] for f in stored["flags"]]


async def test_a_new_offer_replaces_the_previous_stream(server: Any, streamer: Any, photos: Any) -> None:
    face = photos["madonna"][1]
    first = await streamer(moving_frames(lambda s: photo_to_frame(face, shift=s)))
    await first.samples(1)
    second = await streamer(moving_frames(lambda s: photo_to_frame(face, shift=s)))
    await second.samples(1)
    assert len(server.app[LIVE]) == 1
    old = await session_json(server, first.session_id)
    assert old["live"] is False and old["end_reason"] == "replaced"


async def test_audio_is_drained_and_logout_ends_the_stream(server: Any, photos: Any) -> None:
    face = photos["madonna"][1]
    csrf = await login(server)
    c = StreamClient(server, csrf)
    try:
        await c.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(server), audio=True)
        await c.wait_for(lambda st: sum(1 for x in st if x["reason"] == "ok") >= 2)
        assert (await server.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})).status == 200
        assert (await c.wait_ended())["reason"] == "logout"
        assert len(server.app[LIVE]) == 0
        await login(server)
        stored = await session_json(server, c.session_id)
        assert stored["live"] is False and stored["end_reason"] == "logout" and stored["credited_seconds"] > 0
    finally:
        await c.close()


async def test_a_shutdown_tells_the_page_to_reconnect_not_that_it_ended(aiohttp_client: Any, engine: Any,
                                                                        references: Any, photos: Any,
                                                                        tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path, drain_timeout_s=0.5), engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"])
    c = StreamClient(client, await login(client))
    face = photos["madonna"][1]
    try:
        await c.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(client))
        await c.samples(1)
        await client.close()  # a rolling update: SIGTERM, then a graceful shutdown
        assert c.ended == {"type": "reconnect", "reason": "server_shutdown"}  # never "ended": the page comes back
    finally:
        await c.close()
    db = Database.from_url(settings_for(tmp_path).db_url())
    try:
        record = await session_record(db, c.session_id or "")
    finally:
        await db.aclose()
    assert record is not None and record.end_reason == "server_shutdown"  # persisted before the node exits


async def test_draining_waits_for_pages_to_leave_not_for_the_timeout() -> None:
    from server.media.registry import LiveRegistry

    class Page:
        """A stream whose page leaves as soon as it is asked to reconnect (the browser's stream.js)."""

        def __init__(self, registry: LiveRegistry, user_id: int) -> None:
            self.registry, self.ctx, self.session_id, self.asked = registry, SimpleNamespace(user_id=user_id), "", 0

        def ask_to_reconnect(self) -> None:
            self.asked += 1
            self.registry.end_soon(self, "ended_by_student")  # type: ignore[arg-type]

        async def aclose(self, reason: str, *, by: int | None = None) -> None:
            pass

    registry = LiveRegistry()
    pages = [Page(registry, uid) for uid in (1, 2)]
    for p in pages:
        p.session_id = f"s{p.ctx.user_id}"
        await registry.add(p)  # type: ignore[arg-type]
    assert await registry.drain(600.0) == 0  # returns when the last page left (the test timeout is far shorter)
    assert [p.asked for p in pages] == [1, 1] and registry.draining and len(registry) == 0
    await registry.aclose()


async def test_ledger_survives_a_server_restart(aiohttp_client: Any, engine: Any, references: Any, photos: Any,
                                                tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path), engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"])
    c = StreamClient(client, await login(client))
    face = photos["madonna"][1]
    await c.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(client))
    await c.wait_for(lambda st: bool(st) and st[-1]["credited_seconds"] >= 2)
    seen = c.statuses[-1]["credited_seconds"]
    await c.close()
    await client.close()  # graceful shutdown: streams end and are persisted

    again = await aiohttp_client(create_app(settings_for(tmp_path), engine_factory=lambda s: engine))
    await login(again)
    stored = await session_json(again, c.session_id)
    assert stored["live"] is False and stored["credited_seconds"] >= seen
    progress = await (await again.get("/api/progress")).json()
    assert progress["modules"][0]["credited_seconds"] == pytest.approx(stored["credited_seconds"], abs=1e-3)
