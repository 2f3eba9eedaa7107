"""WebRTC track draining: keep only the latest decoded frame, drop audio.

aiortc decodes into an unbounded queue per remote track (upstream issues 554, 642, 680, 1192):
a consumer slower than the stream leaks memory and latency. So every track is drained
continuously by its own task, and the sampler only ever looks at the newest frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol, cast

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from models.aio import cancel_and_wait
from models.images import RGBImage

log = logging.getLogger("proctor.ingest")


class FrameSource(Protocol):
    """What the sampler reads: the newest frame and how old it is."""

    frame: av.VideoFrame | None
    first_frame: asyncio.Event

    def start(self) -> None: ...

    def age(self) -> float | None: ...

    async def next_frame(self, seen: int) -> tuple[av.VideoFrame, int]: ...

    async def aclose(self) -> None: ...


class LatestFrame:
    """Drains a video track; `frame` is the newest frame and `received_at` when it arrived."""

    def __init__(self, track: MediaStreamTrack, now: Callable[[], float] = time.monotonic) -> None:
        self.track = track
        self._now = now
        self.frame: av.VideoFrame | None = None
        self.received_at: float | None = None
        self.frames_received = 0
        self.ended = asyncio.Event()
        self.first_frame = asyncio.Event()
        self.version = 0  # bumps with every frame, so viewers can wait for the next one
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"drain-video-{self.track.id}")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait([task])

    def age(self) -> float | None:
        """Seconds since the newest frame arrived; None before the first."""
        return None if self.received_at is None else self._now() - self.received_at

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                if isinstance(frame, av.VideoFrame):
                    self.frame = frame
                    self.received_at = self._now()
                    self.frames_received += 1
                    self.first_frame.set()
                    self.version += 1
                    changed, self._changed = self._changed, asyncio.Event()
                    changed.set()
        except MediaStreamError:
            pass  # the remote track ended: the sampler sees stale frames and fails closed
        finally:
            self.ended.set()
            self._changed.set()

    async def next_frame(self, seen: int) -> tuple[av.VideoFrame, int]:
        """The newest frame once it is newer than version `seen`; MediaStreamError after the end."""
        while self.version == seen or self.frame is None:
            if self.ended.is_set():
                raise MediaStreamError
            await self._changed.wait()
        return self.frame, self.version


class LatestFrameTrack(MediaStreamTrack):
    """A viewer's copy of a student's video: always the newest frame, never a queue.

    This is MediaRelay(buffered=False) semantics without a relay task per source: the one drain
    task of LatestFrame feeds the sampler and every viewer, so shutdown has one task to stop.
    """

    kind = "video"

    def __init__(self, source: FrameSource) -> None:
        super().__init__()
        self._source = source
        self._seen = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame, self._seen = await self._source.next_frame(self._seen)
        return frame


async def drain(track: MediaStreamTrack) -> None:
    """Read and discard a track nobody needs (audio), so its decoder queue cannot grow."""
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


def to_rgb(frame: av.VideoFrame, max_width: int = 640) -> RGBImage:
    """Decode to RGB, downscaling anything wider than `max_width` (the engine never needs more)."""
    if frame.width > max_width:
        height = int(frame.height * max_width / frame.width) // 2 * 2
        return cast(RGBImage, frame.to_ndarray(format="rgb24", width=max_width, height=height))
    return cast(RGBImage, frame.to_ndarray(format="rgb24"))  # rgb24 is always uint8
