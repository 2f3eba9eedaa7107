"""Student-facing JSON routes: config, catalog, progress, webcam enrollment, session status."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from models.decode_pool import PoolBusy
from models.enroll import EnrollmentError, vectors_to_bytes
from proctor.credit_adjust import adjusted_by_module
from proctor.liveness_ledger import provisional_seconds, voided_seconds
from proctor.passwords import policy_json
from proctor.progress import credited_by_topic
from proctor.session_records import session_record
from proctor.students import EnrollmentLocked
from proctor.users import Role

from ..http import ApiError, read_json
from ..keys import LIMITS, LIVE, SERVICES, SETTINGS, VERIFIER
from ..limits import user_key
from ..turn import ice_servers_for
from .auth import USER, current_user
from .study import lesson_credit, progress_extras, topic_lessons


async def config(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    user = request.get(USER)
    # TURN credentials only for signed-in users (short-lived with turn_secret): the login page
    # reads this too, and anyone can load that.
    ice = [] if user is None else ice_servers_for(settings, str(user.id), request.app[SERVICES].clock.now())
    return web.json_response({"ice_servers": ice, "sample_interval_s": settings.sample_interval_s,
                              "password_policy": policy_json()})


def _module_json(module: Any) -> dict[str, Any]:
    return {"id": module.id, "set": module.set, "title": module.title, "required_seconds": module.required_seconds,
            "mandatory": module.mandatory}


async def catalog(request: web.Request) -> web.Response:
    current_user(request)
    modules = request.app[SERVICES].catalog.modules
    return web.json_response({"modules": [
        {**_module_json(m), "topics": [{"id": t.id, "title": t.title, "lessons": topic_lessons(request, t)}
                                       for t in m.topics]} for m in modules]})


async def progress(request: web.Request) -> web.Response:
    user = current_user(request)
    services = request.app[SERVICES]
    by_topic = await credited_by_topic(services.db, user.id)  # derived from the intervals
    by_lesson = await lesson_credit(request, user)
    adjusted = await adjusted_by_module(services.db, user.id)  # an admin's explicit adjustments
    modules = []
    for m in services.catalog.modules:
        seconds = [round(by_topic.get(t.id, 0.0), 3) for t in m.topics]
        topics = [{"id": t.id, "title": t.title, "credited_seconds": s,
                   "lessons": topic_lessons(request, t, by_lesson)}
                  for t, s in zip(m.topics, seconds, strict=True)]
        extra = round(adjusted.get(m.id, 0.0), 3)
        modules.append({**_module_json(m), "credited_seconds": round(max(0.0, sum(seconds) + extra), 3),
                        "adjusted_seconds": extra, "topics": topics})
    extras = await progress_extras(request, user, modules)
    return web.json_response({"modules": modules, **extras})


def _photo_bytes(item: object, index: int) -> bytes:
    if not isinstance(item, str):
        raise ApiError(400, "bad_field", f"photo {index + 1} must be a data URL string")
    _, sep, payload = item.partition("base64,")
    if not sep:
        payload = item  # plain base64 is accepted too
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_field", f"photo {index + 1} is not valid base64") from None


async def enrollment(request: web.Request) -> web.Response:
    """Webcam enrollment at first login: several captures, each checked like a reference photo."""
    user = current_user(request, Role.STUDENT)
    services = request.app[SERVICES]
    fresh = await services.students.get(user.id) or user
    if fresh.enrollment_status == "approved":
        raise ApiError(409, "already_enrolled", "your reference photos are already approved")
    limiter, key = request.app[LIMITS].enrollments, user_key(user.id)
    retry = limiter.check(key)
    if retry is not None:
        raise ApiError(429, "too_many_requests", "too many enrollment attempts; wait and retry",
                       {"Retry-After": str(int(retry) + 1)}, retry_after_s=round(retry))
    body = await read_json(request)
    limiter.failure(key)  # every attempt counts: each decodes photos and runs the model
    photos = body.get("photos")
    if not isinstance(photos, list) or not 1 <= len(photos) <= 5:
        raise ApiError(400, "bad_field", "field 'photos' must be a list of 1 to 5 images")
    raw = [_photo_bytes(p, i) for i, p in enumerate(photos)]
    verifier = request.app[VERIFIER]
    try:
        result = await verifier.enroll(raw)
    except EnrollmentError as exc:
        raise ApiError(422, "bad_photo", str(exc), photo=exc.index + 1) from None
    except PoolBusy as exc:
        raise ApiError(503, "unavailable", str(exc), {"Retry-After": "5"}) from None
    # Self-captured references wait for a proctor's approval, except in demo mode. A new post
    # replaces what was pending: the proctor approves the set they saw, never a later addition.
    status = "approved" if request.app[SETTINGS].demo else "pending"
    refs = [(photo, [vector]) for photo, vector in zip(result.photos, vectors_to_bytes(result.embeddings),
                                                       strict=True)]
    try:
        await services.students.replace_pending_references(user.id, refs, result.model, verifier.dim, status)
    except EnrollmentLocked:
        raise ApiError(409, "already_enrolled", "your reference photos are already approved") from None
    return web.json_response({"enrollment": status})


async def _owned_session(request: web.Request) -> Any:
    user = current_user(request)
    record = await session_record(request.app[SERVICES].db, request.match_info["session_id"])
    if record is None or (record.user_id != user.id and not user.role.is_staff):
        raise ApiError(404, "not_found", "no such session")  # never confirm someone else's session exists
    return record


async def get_session(request: web.Request) -> web.Response:
    r = await _owned_session(request)
    db = request.app[SERVICES].db
    return web.json_response({
        "id": r.id, "topic_id": r.topic_id, "module_id": r.module_id, "state": r.state, "reason": r.reason,
        "live": r.ended_at is None, "started_at": r.started_at, "ended_at": r.ended_at, "end_reason": r.end_reason,
        "credited_seconds": round(r.credited_seconds, 3),  # confirmed (with liveness: by a passed challenge)
        "provisional_seconds": round(await provisional_seconds(db, r.id), 3),
        "voided_seconds": round(await voided_seconds(db, r.id), 3),
        "samples": {"total": r.samples_total, "verified": r.samples_verified},
        "flags": [{"kind": f.kind, "started_at": f.started_at, "ended_at": f.ended_at} for f in r.flags],
    })


async def end_session(request: web.Request) -> web.Response:
    r = await _owned_session(request)
    user = current_user(request)
    # A proctor ending a student's session is recorded as such, with the proctor as the actor.
    reason, by = ("ended_by_student", None) if user.id == r.user_id else ("ended_by_proctor", user.id)
    stream = request.app[LIVE].get_session(r.id)
    if stream is not None:
        await request.app[LIVE].end(stream, reason, by=by)
    elif r.ended_at is None:
        # Live on another node, or its node died: the ledger ends it, and the node streaming it
        # stops at its next write (the ledger refuses an ended session).
        await request.app[SERVICES].ledger.end_session(r.id, request.app[SERVICES].clock.now(), reason, by=by)
    return web.json_response({"ok": True, "id": r.id})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/config", config)
    app.router.add_get("/api/catalog", catalog)
    app.router.add_get("/api/progress", progress)
    app.router.add_post("/api/enrollment", enrollment)
    app.router.add_get("/api/sessions/{session_id}", get_session)
    app.router.add_post("/api/sessions/{session_id}/end", end_session)
