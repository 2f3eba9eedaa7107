"""Hardening of the media side (issue 10) with real aiortc peers against a real server: offers with
many media lines, offers per student, control-channel floods, and streams that never connect."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiortc import AudioStreamTrack, RTCPeerConnection

from bench.clients import FramesTrack, StreamClient, moving_frames
from models.frames import blank_frame, photo_to_frame
from proctor.session_records import session_record
from server.app import create_app
from server.keys import EVENTS, LIVE, SERVICES

from .helpers import enroll_student, login, settings_for, topic


@pytest.fixture
async def rig(aiohttp_client: Any, engine: Any, references: Any, tmp_path: Path) -> Any:
    app = create_app(settings_for(tmp_path, offers_per_student=4, stream_connect_timeout_s=2.0, control_burst=5,
                                  control_messages_per_s=1.0, max_pending_control_writes=2),
                     engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"])
    client.csrf = await login(client)
    return client


async def offer_of(videos: int, audios: int, channel: bool = True) -> str:
    pc = RTCPeerConnection()
    for _ in range(videos):
        pc.addTransceiver("video", direction="sendonly")
    for _ in range(audios):
        pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    if channel:
        pc.createDataChannel("control")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


async def post_offer(client: Any, sdp: str) -> Any:
    return await client.post("/api/webrtc/offer", headers={"X-CSRF-Token": client.csrf},
                             json={"sdp": sdp, "type": "offer", "topic_id": topic(client)})


async def test_offers_with_extra_media_lines_are_refused_before_any_peer(
        rig: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[RTCPeerConnection] = []

    class Recorded(RTCPeerConnection):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            created.append(self)

    monkeypatch.setattr("server.media.peer.RTCPeerConnection", Recorded)
    for videos, audios in ((12, 0), (1, 2)):  # once: 12 tracks answered, 12 decoder threads
        resp = await post_offer(rig, await offer_of(videos, audios))
        assert resp.status == 400, await resp.text()
        body = (await resp.json())["error"]
        assert body["code"] == "bad_sdp" and "one video track" in body["message"]
    assert created == [] and len(rig.app[LIVE]) == 0


async def test_offers_are_limited_per_student(rig: Any, photos: Any) -> None:
    statuses = [(await post_offer(rig, await offer_of(2, 0))).status for _ in range(4)]
    assert statuses == [400] * 4
    late = await post_offer(rig, await offer_of(1, 1))
    assert late.status == 429 and (await late.json())["error"]["code"] == "too_many_requests"


async def test_webcam_microphone_and_channel_are_accepted(rig: Any, photos: Any) -> None:
    c = StreamClient(rig, rig.csrf)
    try:
        await c.start(moving_frames(lambda s: photo_to_frame(photos["madonna"][1], shift=s)), topic(rig), audio=True)
        await c.samples(1)
    finally:
        await c.close()


async def test_a_control_channel_flood_causes_bounded_writes(rig: Any, photos: Any) -> None:
    c = StreamClient(rig, rig.csrf)
    try:
        await c.start(moving_frames(lambda s: photo_to_frame(photos["madonna"][1], shift=s)), topic(rig))
        await c.samples(1)
        stream = rig.app[LIVE].get_session(c.session_id)
        recorder = stream.recorder
        writes: list[int] = []
        pending: list[int] = []
        write = recorder.write

        async def counted(update: Any, session: Any, sample: Any) -> Any:
            if sample is None:  # a control-channel write, not a sample's
                writes.append(1)
                pending.append(len(stream._pending))
            return await write(update, session, sample)

        recorder.write = counted
        received, all_in = [0], asyncio.Event()
        on_control = stream.on_control

        def counting(message: object) -> None:  # the channel's handler looks this up per message
            on_control(message)
            received[0] += 1
            if received[0] == 401:
                all_in.set()

        stream.on_control = counting
        for _ in range(200):  # nothing changes: the page is visible already
            c.channel.send(json.dumps({"type": "visibility", "visible": True}))
        for i in range(200):  # real changes, far faster than any person switches tabs
            c.channel.send(json.dumps({"type": "visibility", "visible": i % 2 == 1}))
        c.channel.send(json.dumps({"type": "visibility", "visible": False}))
        async with asyncio.timeout(30):
            await all_in.wait()
        # Past the limit, the domain still knows the page is hidden at once: the next sample says so.
        assert stream.session.visible is False
        seen = len(c.statuses)
        await c.wait_for(lambda st: len(st) > seen and st[-1]["reason"] == "tab_hidden")
        assert len(writes) <= 5 + 10  # the burst, plus one a second at most while the test runs
        assert max(pending, default=0) <= 2
    finally:
        await c.close()


async def test_a_stream_that_never_connects_ends_without_samples(rig: Any) -> None:
    pc = RTCPeerConnection()
    pc.addTransceiver(FramesTrack([blank_frame()], 10), direction="sendonly")
    pc.createDataChannel("control")
    await pc.setLocalDescription(await pc.createOffer())
    bus = rig.app[EVENTS]
    try:
        async with asyncio.timeout(30), bus.subscribe() as watch:
            resp = await post_offer(rig, pc.localDescription.sdp)  # the answer is never applied: ICE never completes
            assert resp.status == 200
            session_id = (await resp.json())["session_id"]
            async for event in watch:
                if event.type == "session_ended" and event.payload.get("session_id") == session_id:
                    break
    finally:
        await pc.close()
    record = await session_record(rig.app[SERVICES].db, session_id)
    assert record is not None and record.end_reason == "never_connected"
    assert record.samples_total == 0  # no rows before the first frame
    assert len(rig.app[LIVE]) == 0
