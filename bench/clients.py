"""A real aiortc student client, shared by the tests and `proctor bench streams`: it logs in, streams
frames made from photos like a webcam, and reads the status messages of the control channel."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError

from models.frames import motion_path


class FramesTrack(VideoStreamTrack):
    """Loops over RGB frames at `fps`; each frame shifted a little, like a person on a webcam."""

    def __init__(self, frames: list[np.ndarray], fps: int = 10) -> None:
        super().__init__()
        self._frames = [av.VideoFrame.from_ndarray(f, format="rgb24") for f in frames]
        self._i = 0
        self._fps = fps
        self._began: float | None = None

    def show(self, frames: list[np.ndarray]) -> None:
        """Switch the clip (e.g. to a turned head, answering a liveness challenge)."""
        self._frames = [av.VideoFrame.from_ndarray(f, format="rgb24") for f in frames]

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError  # stop() ends the stream, as a camera unplugged would
        # Pace to real time: the sender paces the media, the test never sleeps to synchronise.
        if self._began is None:
            self._began = time.monotonic()
        due = self._began + self._i / self._fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frames = self._frames
        frame = frames[self._i % len(frames)]
        frame.pts = self._i * (90000 // self._fps)
        frame.time_base = Fraction(1, 90000)
        self._i += 1
        return frame


def moving_frames(frame_fn: Callable[[tuple[int, int]], np.ndarray], n: int = 8) -> list[np.ndarray]:
    return [frame_fn(shift) for shift in motion_path(n)]


class StreamClient:
    """One student's browser, minus the browser: login session + peer connection + control channel."""

    def __init__(self, http: Any, csrf: str, fps: int = 10) -> None:
        self.http = http  # aiohttp TestClient or ClientSession with the login cookie
        self.csrf = csrf
        self.fps = fps
        self.pc = RTCPeerConnection()
        self.track: FramesTrack | None = None
        self.statuses: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []  # every other message (challenges, results, voids)
        # Called on a liveness challenge; a test switches the clip here to answer it.
        self.on_challenge: Callable[[dict[str, Any]], None] | None = None
        self.ended: dict[str, Any] | None = None
        self.session_id: str | None = None
        self.connected_at: float | None = None
        self.connected = asyncio.Event()
        self._changed = asyncio.Event()

    async def start(self, frames: list[np.ndarray], topic_id: str, url: str = "/api/webrtc/offer",
                    audio: bool = False) -> None:
        self.track = FramesTrack(frames, self.fps)
        self.pc.addTransceiver(self.track, direction="sendonly")
        if audio:  # a browser that also sends its microphone: the server must drain and drop it
            self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        channel = self.pc.createDataChannel("control")

        @channel.on("open")
        def on_open() -> None:
            channel.send(json.dumps({"type": "visibility", "visible": True}))

        @channel.on("message")
        def on_message(message: str) -> None:
            data = json.loads(message)
            if data["type"] == "status":
                self.statuses.append({**data, "received_at": time.monotonic(), "received_wall": time.time()})
            elif data["type"] in ("ended", "reconnect"):  # the last message: final, or "come back"
                self.ended = data
            else:
                self.messages.append({**data, "received_at": time.monotonic()})
                if data["type"] == "challenge" and self.on_challenge is not None:
                    self.on_challenge(data)
            self._changed.set()

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState == "connected" and self.connected_at is None:
                self.connected_at = time.time()  # wall clock, like the server's sample times
                self.connected.set()

        self.channel = channel
        await self.pc.setLocalDescription(await self.pc.createOffer())
        resp = await self.http.post(url, json={"sdp": self.pc.localDescription.sdp, "type": "offer",
                                               "topic_id": topic_id},
                                    headers={"X-CSRF-Token": self.csrf})
        body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"offer refused: {body}")
        self.session_id = body["session_id"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], within: float = 60) -> None:
        """Wait until the status messages satisfy `predicate` (event-driven, bounded)."""
        async with asyncio.timeout(within):
            while not predicate(self.statuses):
                self._changed.clear()
                await self._changed.wait()

    async def wait_message(self, predicate: Callable[[list[dict[str, Any]]], bool], within: float = 60) -> None:
        """Wait until the non-status messages satisfy `predicate` (event-driven, bounded)."""
        async with asyncio.timeout(within):
            while not predicate(self.messages):
                self._changed.clear()
                await self._changed.wait()

    async def wait_ended(self, within: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while self.ended is None:
                self._changed.clear()
                await self._changed.wait()
        return self.ended

    async def samples(self, n: int, within: float = 60) -> dict[str, Any]:
        await self.wait_for(lambda st: bool(st) and st[-1]["samples"]["total"] >= n, within)
        return self.statuses[-1]

    def stop_camera(self) -> None:
        assert self.track is not None
        self.track.stop()

    async def close(self) -> None:
        await self.pc.close()
