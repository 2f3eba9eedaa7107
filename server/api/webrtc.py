"""WebRTC signalling: `POST /api/webrtc/offer` → answer, and a live stream that starts sampling.

The handler checks who asks and what for, answers the offer (server/media/peer.py), then hands
the session to the starter (server/media/sessions.py), which owns the domain side.
"""

from __future__ import annotations

from aiohttp import web

from proctor.users import Role

from ..http import ApiError, field, read_json
from ..keys import LIMITS, LIVE, SERVICES, SETTINGS, STARTER, VERIFIER
from ..limits import user_key
from ..media.peer import OfferError, abandon, answer_offer
from ..media.sessions import Student
from ..turn import ice_servers_for
from .auth import WEB_SESSION, current_user, refuse_during_maintenance
from .spmt import attempt_target
from .study import check_offer

MAX_SDP = 64 * 1024


# What a student's page offers: its webcam, perhaps a microphone it did not drop, and the control
# data channel. Each media line costs a track and a decoder thread, so nothing else is accepted.
MAX_MEDIA_LINES = {"video": 1, "audio": 1, "application": 1}


def check_sdp(sdp: str) -> None:
    if len(sdp.encode()) > MAX_SDP:
        raise ApiError(413, "sdp_too_large", f"the SDP is larger than {MAX_SDP // 1024} KiB")
    if not sdp.lstrip().startswith("v=0"):
        raise ApiError(400, "bad_sdp", "field 'sdp' is not an SDP offer")
    counts: dict[str, int] = {}
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
    if counts.get("video", 0) == 0:
        raise ApiError(400, "no_video", "the offer has no video track; share the webcam")
    extra = {k: n for k, n in counts.items() if n > MAX_MEDIA_LINES.get(k, 0)}
    if extra:
        raise ApiError(400, "bad_sdp", "the offer may carry one video track, at most one audio track and the "
                                       f"data channel; it has {', '.join(f'{n} {k}' for k, n in counts.items())}")


async def offer(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    await refuse_during_maintenance(request)
    limiter, key = request.app[LIMITS].offers, user_key(user.id)
    retry = limiter.check(key)
    if retry is not None:
        raise ApiError(429, "too_many_requests", "too many stream starts; wait and retry",
                       {"Retry-After": str(int(retry) + 1)}, retry_after_s=round(retry))
    limiter.failure(key)  # every offer counts: each may start a peer connection and its decoders
    body = await read_json(request)
    sdp = field(body, "sdp", max_len=MAX_SDP * 2)
    if field(body, "type") != "offer":
        raise ApiError(400, "bad_field", "field 'type' must be 'offer'")
    services = request.app[SERVICES]
    earns_credit, lesson_id, activity = True, None, None
    if body.get("attempt_id") is not None:  # an SPMT attempt's proctoring stream: flags, no credit
        module, topic = await attempt_target(request, user.id, field(body, "attempt_id", max_len=64))
        earns_credit = False
    else:
        topic_id = field(body, "topic_id", max_len=128)
        found = services.catalog.topic(topic_id)
        if found is None:
            raise ApiError(404, "unknown_topic", f"no topic {topic_id!r} in the catalog")
        module, topic = found
        lesson_id = field(body, "lesson_id", required=False, max_len=128)
        activity = await check_offer(request, user, module, topic, lesson_id)  # electives; lesson mode's gate
    check_sdp(sdp)
    if request.app[LIVE].draining:  # shutting down: the page retries, reaching another node
        raise ApiError(503, "draining", "this server is restarting; retrying", {"Retry-After": "1"}, retry_after_s=1)
    fresh = await services.students.get(user.id) or user
    if fresh.enrollment_status != "approved":
        raise ApiError(409, "not_enrolled", "your reference photos are not approved yet; time cannot be credited")
    verifier = request.app[VERIFIER]
    refs = verifier.references_from_blobs(await services.students.references(user.id, verifier.model_name))
    if refs.shape[0] == 0:
        raise ApiError(409, "not_enrolled", "no reference photo for the current model; enroll again")

    try:
        peer = await answer_offer(sdp, ice_servers_for(request.app[SETTINGS], "node", services.clock.now()))
    except OfferError as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    student = Student(user.id, request[WEB_SESSION].id, user.srn, user.name)
    try:
        stream = await request.app[STARTER].start(student, module, topic, peer, refs, lesson_id=lesson_id,
                                                  activity=activity, earns_credit=earns_credit)
    except BaseException:
        await abandon(peer.pc, peer.drains)
        raise
    local = peer.pc.localDescription
    return web.json_response({"sdp": local.sdp, "type": local.type, "session_id": stream.session_id})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/webrtc/offer", offer)
