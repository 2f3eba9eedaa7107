"""WebRTC signalling: `POST /api/webrtc/offer` → answer, and a live stream that starts sampling.

The handler checks who asks and what for, answers the offer (server/media/peer.py), then hands
the session to the starter (server/media/sessions.py), which owns the domain side.
"""

from __future__ import annotations

from aiohttp import web

from proctor.users import Role

from ..http import ApiError, field, read_json
from ..keys import SERVICES, SETTINGS, STARTER, VERIFIER
from ..media.peer import OfferError, abandon, answer_offer
from ..media.sessions import Student
from .auth import WEB_SESSION, current_user, refuse_during_maintenance
from .spmt import attempt_target

MAX_SDP = 64 * 1024


def check_sdp(sdp: str) -> None:
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
    services = request.app[SERVICES]
    earns_credit = True
    if body.get("attempt_id") is not None:  # an SPMT attempt's proctoring stream: flags, no credit
        module, topic = await attempt_target(request, user.id, field(body, "attempt_id", max_len=64))
        earns_credit = False
    else:
        topic_id = field(body, "topic_id", max_len=128)
        found = services.catalog.topic(topic_id)
        if found is None:
            raise ApiError(404, "unknown_topic", f"no topic {topic_id!r} in the catalog")
        module, topic = found
    check_sdp(sdp)
    fresh = await services.students.get(user.id) or user
    if fresh.enrollment_status != "approved":
        raise ApiError(409, "not_enrolled", "your reference photos are not approved yet; time cannot be credited")
    verifier = request.app[VERIFIER]
    refs = verifier.references_from_blobs(await services.students.references(user.id, verifier.model_name))
    if refs.shape[0] == 0:
        raise ApiError(409, "not_enrolled", "no reference photo for the current model; enroll again")

    try:
        peer = await answer_offer(sdp, request.app[SETTINGS].ice_servers)
    except OfferError as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    student = Student(user.id, request[WEB_SESSION].id, user.srn, user.name)
    try:
        stream = await request.app[STARTER].start(student, module, topic, peer, refs, earns_credit=earns_credit)
    except BaseException:
        await abandon(peer.pc, peer.drains)
        raise
    local = peer.pc.localDescription
    return web.json_response({"sdp": local.sdp, "type": local.type, "session_id": stream.session_id})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/webrtc/offer", offer)
