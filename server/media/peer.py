"""Answering a student's WebRTC offer: a receive-only peer connection with one video track.

The server does not trickle ICE: aiortc gathers every candidate inside setLocalDescription, so
the answer is complete. Any failure after the peer connection exists closes it before raising.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from models.aio import cancel_and_wait

from .ingest import drain


class OfferError(Exception):
    """An offer that cannot be answered; `code` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class AnsweredPeer:
    """A peer connection whose answer is set, its one video track, and drains of anything else."""

    pc: RTCPeerConnection
    video: MediaStreamTrack
    drains: list[asyncio.Task[None]] = field(default_factory=list)


def rtc_configuration(ice_servers: list[dict[str, Any]]) -> RTCConfiguration:
    """Settings' ICE server dicts (STUN/TURN) as aiortc wants them."""
    return RTCConfiguration(iceServers=[RTCIceServer(urls=s["urls"], username=s.get("username"),
                                                     credential=s.get("credential")) for s in ice_servers])


async def answer_offer(sdp: str, ice_servers: list[dict[str, Any]]) -> AnsweredPeer:
    pc = RTCPeerConnection(rtc_configuration(ice_servers))
    video: list[MediaStreamTrack] = []
    drains: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video" and not video:
            video.append(track)
        else:  # audio or a second video: consume and drop, or its queue grows forever
            drains.append(asyncio.get_running_loop().create_task(drain(track), name="drain-extra-track"))

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:
        await abandon(pc, drains)
        raise OfferError("bad_sdp", f"the offer could not be used: {exc.__class__.__name__}") from None
    if not video:
        await abandon(pc, drains)
        raise OfferError("no_video", "the offer has no video track; share the webcam")
    return AnsweredPeer(pc, video[0], drains)


async def abandon(pc: RTCPeerConnection, tasks: list[asyncio.Task[None]]) -> None:
    await pc.close()
    await cancel_and_wait(tasks)
