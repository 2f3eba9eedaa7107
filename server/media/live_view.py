"""Proctors watching a student's live video: one recvonly peer connection per viewer.

Each viewer gets a `LatestFrameTrack` over the student's `LatestFrame`: the newest frame only, so a
slow viewer sees fewer frames instead of older ones, and never holds memory. At most
`max_per_session` viewers per student, because every viewer costs a VP8 encoder on the server.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from .ingest import FrameSource, LatestFrameTrack

log = logging.getLogger("proctor.live_view")


class ViewError(Exception):
    """A view that cannot be opened; `code` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class View:
    """One proctor watching one session."""

    viewer_id: str
    session_id: str
    proctor_id: int
    pc: RTCPeerConnection
    track: LatestFrameTrack
    web_session_id: str = ""  # the proctor's login: when it ends, the view closes


class Viewers:
    """Every open view on this node."""

    def __init__(self, max_per_session: int) -> None:
        self.max_per_session = max_per_session
        self._views: dict[str, View] = {}
        self._closing: set[asyncio.Task[bool]] = set()

    def count(self, session_id: str) -> int:
        return sum(1 for v in self._views.values() if v.session_id == session_id)

    async def open(self, session_id: str, proctor_id: int, source: FrameSource, offer_sdp: str,
                   config: RTCConfiguration, web_session_id: str = "") -> tuple[RTCSessionDescription, str]:
        if self.count(session_id) >= self.max_per_session:
            raise ViewError("too_many_viewers", f"at most {self.max_per_session} proctors can watch one student")
        pc = RTCPeerConnection(config)
        track = LatestFrameTrack(source)
        view = View(str(uuid.uuid4()), session_id, proctor_id, pc, track, web_session_id)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            if not any(t.kind == "video" for t in pc.getTransceivers()):
                raise ViewError("bad_sdp", "the offer must ask to receive video")
            pc.addTrack(track)  # takes the offered video transceiver; the answer says sendonly
            await pc.setLocalDescription(await pc.createAnswer())
        except ViewError:
            track.stop()
            await pc.close()
            raise
        except Exception as exc:
            track.stop()
            await pc.close()
            raise ViewError("bad_sdp", f"the offer could not be used: {exc.__class__.__name__}") from None
        self._views[view.viewer_id] = view

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                task = asyncio.get_running_loop().create_task(self.close(view.viewer_id))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

        return pc.localDescription, view.viewer_id

    def owner(self, viewer_id: str) -> int | None:
        view = self._views.get(viewer_id)
        return view.proctor_id if view else None

    async def close(self, viewer_id: str) -> bool:
        view = self._views.pop(viewer_id, None)
        if view is None:
            return False
        view.track.stop()
        await view.pc.close()
        return True

    async def close_session(self, session_id: str) -> None:
        for viewer_id in [v.viewer_id for v in self._views.values() if v.session_id == session_id]:
            await self.close(viewer_id)

    async def close_matching(self, ended: Callable[[int, str], bool]) -> None:
        """Close the views whose (proctor id, login) `ended` says have signed out."""
        for viewer_id in [v.viewer_id for v in self._views.values() if ended(v.proctor_id, v.web_session_id)]:
            await self.close(viewer_id)

    async def aclose(self) -> None:
        for viewer_id in list(self._views):
            await self.close(viewer_id)
        await asyncio.gather(*self._closing, return_exceptions=True)
