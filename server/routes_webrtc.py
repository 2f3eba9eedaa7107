"""WebRTC signalling: `POST /api/webrtc/offer` → answer, and a live stream that starts sampling.

The server does not trickle ICE: aiortc gathers every candidate inside setLocalDescription, so
the answer is complete. Any failure after the peer connection exists closes it before replying.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from proctor.progress import credited_by_module
from proctor.users import Role, student_json

from .app import CLUSTER, EVENTS, LIVE, SERVICES, SETTINGS, VERIFIER
from .auth import WEB_SESSION, current_user, refuse_during_maintenance
from .http import ApiError, field, read_json
from .ingest import LatestFrame, drain
from .live import LiveStream, StreamContext
from .metrics import METRICS

log = logging.getLogger("proctor.webrtc")
MAX_SDP = 64 * 1024


def _ice_servers(raw: list[dict[str, Any]]) -> list[RTCIceServer]:
    return [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in raw]


def _check_sdp(sdp: str) -> None:
    if len(sdp.encode()) > MAX_SDP:
        raise ApiError(413, "sdp_too_large", f"the SDP is larger than {MAX_SDP // 1024} KiB")
    if not sdp.lstrip().startswith("v=0"):
        raise ApiError(400, "bad_sdp", "field 'sdp' is not an SDP offer")
    if "\nm=video " not in sdp.replace("\r\n", "\n"):
        raise ApiError(400, "no_video", "the offer has no video track; share the webcam")


async def offer(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    await refuse_during_maintenance(request)
    body = await read_json(request)
    sdp = field(body, "sdp", max_len=MAX_SDP * 2)
    if field(body, "type") != "offer":
        raise ApiError(400, "bad_field", "field 'type' must be 'offer'")
    topic_id = field(body, "topic_id", max_len=128)
    services = request.app[SERVICES]
    found = services.catalog.topic(topic_id)
    if found is None:
        raise ApiError(404, "unknown_topic", f"no topic {topic_id!r} in the catalog")
    module, topic = found
    _check_sdp(sdp)
    fresh = await services.students.get(user.id) or user
    if fresh.enrollment_status != "approved":
        raise ApiError(409, "not_enrolled", "your reference photos are not approved yet; time cannot be credited")
    verifier = request.app[VERIFIER]
    refs = verifier.references_from_blobs(await services.students.references(user.id, verifier.model_name))
    if refs.shape[0] == 0:
        raise ApiError(409, "not_enrolled", "no reference photo for the current model; enroll again")

    settings = request.app[SETTINGS]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=_ice_servers(settings.ice_servers)))
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
        await _abandon(pc, drains)
        raise ApiError(400, "bad_sdp", f"the offer could not be used: {exc.__class__.__name__}") from None
    if not video:
        await _abandon(pc, drains)
        raise ApiError(400, "no_video", "the offer has no video track; share the webcam")

    live = request.app[LIVE]
    old = live.get_for_user(user.id)
    if old is not None:
        await live.end(old, "replaced")  # one live stream per student
    now = services.clock.now()
    await services.ledger.end_open_sessions_for_user(user.id, now, "replaced")
    before = (await credited_by_module(services.db, user.id)).get(module.id, 0.0)
    session_id = await services.ledger.start_session(user.id, topic_id, module.id, now)
    ctx = StreamContext(session_id, user.id, topic_id, module.id, before, float(module.required_seconds),
                        request[WEB_SESSION].id, student_json(user.id, user.srn, user.name), topic.title)
    stream = LiveStream(ctx, pc, LatestFrame(video[0]), refs, verifier, services.ledger, services.clock,
                        services.policy, settings.verify_timeout_s)
    stream.events, stream.evidence = request.app[EVENTS], services.evidence
    stream.metrics = request.app[METRICS]

    @pc.on("datachannel")
    def on_datachannel(channel: Any) -> None:
        if channel.label == "control":
            stream.attach_channel(channel)

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed"):
            stream.close_soon("connection_lost")

    await live.add(stream)
    cluster = request.app[CLUSTER]
    if cluster is not None:
        await cluster.claim_stream(user.id, session_id)  # ends the student's stream on any other node
    stream.start()
    for t in drains:
        stream.track_task(t)
    local = pc.localDescription
    return web.json_response({"sdp": local.sdp, "type": local.type, "session_id": session_id})


async def _abandon(pc: RTCPeerConnection, tasks: list[asyncio.Task[None]]) -> None:
    await pc.close()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/webrtc/offer", offer)
