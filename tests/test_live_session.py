"""End to end over real aiortc peer connections: webcam frames in, verified time in the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.enroll import vectors_to_bytes
from models.frames import blank_frame, photo_to_frame, side_by_side
from proctor.passwords import hash_password
from server.app import LIVE, SERVICES, create_app
from server.config import Settings

from .streaming import StreamClient, moving_frames

INTERVAL = 1.0
PASSWORD = "correct horse battery"


def settings_for(tmp_path: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {"db": f"sqlite:///{tmp_path / 'proctor.db'}", "sample_interval_s": INTERVAL,
                            "verify_timeout_s": 5.0, "max_wait_ms": 5, "demo": False}
    return Settings(**{**base, **kw})


async def enroll_student(app: Any, srn: str, refs: np.ndarray, mobile: str | None = None) -> None:
    students = app[SERVICES].students
    uid = await students.add_student(srn, f"Student {srn}", mobile, hash_password(PASSWORD))
    for vec in vectors_to_bytes(refs):
        await students.add_reference(uid, b"photo", "facenet-msceleb-128", [vec], 128)
    await students.set_enrollment_status(uid, "approved")


@pytest.fixture
async def server(aiohttp_client: Any, engine: Any, references: Any, tmp_path: Path) -> AsyncIterator[Any]:
    app = create_app(settings_for(tmp_path), engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"])
    yield client


async def login(client: Any, srn: str = "MAD001") -> str:
    resp = await client.post("/api/auth/login", json={"srn": srn, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["csrf_token"])


def topic(client: Any) -> str:
    return str(client.app[SERVICES].catalog.modules[0].topics[0].id)


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


async def session_json(client: Any, sid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/sessions/{sid}")
    assert resp.status == 200
    return dict(await resp.json())


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
