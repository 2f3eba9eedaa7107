"""Proctor and admin routes: live sessions, the event WebSocket, flag review with evidence, timelines,
live view, CSV export and enrollment approvals. docs/api-proctor.md is the contract.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web

from models.aio import cancel_and_wait
from proctor.credit_adjust import adjustments_of
from proctor.ledger import UnknownSession
from proctor.liveness_ledger import challenges
from proctor.progress import credited_since_by_user
from proctor.reports import export_rows, to_csv
from proctor.review import ReviewConflict
from proctor.session_records import adjustments_for_user, session_timeline
from proctor.students import EnrollmentChanged, UnknownUser
from proctor.users import Role, User

from ..http import ApiError, field, read_json
from ..keys import EVENTS, LIVE, LOGIN_ENDS, SERVICES, SETTINGS, VIEWERS, WEBSOCKETS
from ..media.live_view import ViewError
from ..media.peer import rtc_configuration
from ..turn import ice_servers_for
from .auth import WEB_SESSION, check_origin, current_user
from .webrtc import MAX_SDP

log = logging.getLogger("proctor.routes_proctor")


def staff(request: web.Request) -> User:
    user = current_user(request)
    if not user.role.is_staff:
        raise ApiError(403, "forbidden", "this is for proctors and admins")
    return user


async def sessions(request: web.Request) -> web.Response:
    staff(request)
    services = request.app[SERVICES]
    now = services.clock.now()
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    open_flags: dict[str, list[dict[str, Any]]] = {}
    for f in await services.review.list_flags("open", 1000):
        open_flags.setdefault(f.session_id, []).append(
            {"flag_id": f.flag_id, "kind": f.kind, "started_at": f.started_at, "snapshot_url": f.snapshot_url})
    streams = request.app[LIVE].streams()
    today_by_user = await credited_since_by_user(services.db, [s.ctx.user_id for s in streams], midnight)
    out = []
    for stream in streams:
        s = stream.session
        student = stream.ctx.student
        today = today_by_user.get(stream.ctx.user_id, 0.0)
        out.append({"session_id": stream.session_id, "student": student, "topic_id": stream.ctx.topic_id,
                    "topic_title": stream.ctx.topic_title, "module_id": stream.ctx.module_id, "state": s.state,
                    "reason": s.reason.value, "started_at": stream.started_at,
                    "credited_seconds": round(s.credited_seconds, 3), "credited_today": round(today, 3),
                    "open_flags": open_flags.get(stream.session_id, []),
                    "viewers": request.app[VIEWERS].count(stream.session_id)})
    return web.json_response({"sessions": out, "last_event_id": request.app[EVENTS].last_id})


async def events(request: web.Request) -> web.WebSocketResponse:
    """Live events; `?after=ID` replays what a reconnecting client missed."""
    staff(request)
    check_origin(request)
    user = staff(request)
    after_raw = request.query.get("after")
    try:
        after = int(after_raw) if after_raw not in (None, "") else None
    except ValueError:
        raise ApiError(400, "bad_field", "'after' must be an event id (an integer)") from None
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    request.app[WEBSOCKETS].add(ws)
    request.app[LOGIN_ENDS].track_socket(ws, user.id, request[WEB_SESSION].id)  # closed when the login ends
    subscription = request.app[EVENTS].subscribe(after)

    async def forward() -> None:
        async for event in subscription:
            await ws.send_json(event.to_json())
            if event.type == "resync":
                break  # the client reloads its state and reconnects with the new last id

    async def drain_client() -> None:
        # Reading is how we learn the client went away; clients send nothing we need.
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break

    sender = asyncio.create_task(forward(), name="proctor-events-send")
    reader = asyncio.create_task(drain_client(), name="proctor-events-read")
    try:
        await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait([sender, reader])
        await subscription.aclose()
        request.app[WEBSOCKETS].discard(ws)
        request.app[LOGIN_ENDS].forget_socket(ws)
        await ws.close()
    return ws


async def flags(request: web.Request) -> web.Response:
    staff(request)
    status = request.query.get("status", "open")
    if status not in ("open", "all"):
        raise ApiError(400, "bad_field", "'status' must be open or all")
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "200"))))
    except ValueError:
        raise ApiError(400, "bad_field", "'limit' must be an integer") from None
    rows = await request.app[SERVICES].review.list_flags(status, limit)  # type: ignore[arg-type]
    return web.json_response({"flags": [f.to_json() for f in rows]})


def _flag_id(request: web.Request) -> int:
    try:
        return int(request.match_info["flag_id"])
    except ValueError:
        raise ApiError(404, "not_found", "no such flag") from None


async def review(request: web.Request) -> web.Response:
    user = staff(request)
    body = await read_json(request)
    action = field(body, "action", max_len=16)
    if action not in ("acknowledge", "dismiss", "confirm", "undo"):
        raise ApiError(400, "bad_field", "'action' must be acknowledge, dismiss, confirm or undo")
    scope = field(body, "scope", required=False, max_len=16) or "flag"
    if scope not in ("flag", "session"):
        raise ApiError(400, "bad_field", "'scope' must be flag or session")
    note = field(body, "note", required=False, max_len=1000)
    services = request.app[SERVICES]
    try:
        view = await services.review.review(_flag_id(request), action, note, user.id, scope)  # type: ignore[arg-type]
    except LookupError:
        raise ApiError(404, "not_found", "no such flag") from None
    except ReviewConflict as exc:
        raise ApiError(409, "already_reviewed", str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc)) from None
    out = view.to_json()
    request.app[EVENTS].publish("flag_reviewed", session_id=view.session_id, flag=out)
    return web.json_response(out)


async def snapshot(request: web.Request) -> web.Response:
    user = staff(request)
    jpeg = await request.app[SERVICES].evidence.get(_flag_id(request), viewed_by=user.id)  # audited
    if jpeg is None:
        raise ApiError(404, "not_found", "no snapshot for this flag (none was taken, or it was deleted)")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


async def timeline(request: web.Request) -> web.Response:
    staff(request)
    services = request.app[SERVICES]
    try:
        t = await session_timeline(services.db, request.match_info["session_id"], services.evidence.cutoff())
    except UnknownSession:
        raise ApiError(404, "not_found", "no such session") from None
    r = t.session
    return web.json_response({
        "session": {"id": r.id, "user_id": r.user_id, "topic_id": r.topic_id, "module_id": r.module_id,
                    "state": r.state, "reason": r.reason, "started_at": r.started_at, "ended_at": r.ended_at,
                    "credited_seconds": r.credited_seconds},
        "samples": [{"at": x.at, "reason": x.reason, "score": x.score} for x in t.samples],
        "intervals": [{"start": i.start, "end": i.end} for i in t.intervals],
        "flags": [f.to_json() for f in t.flags],
        "adjustments": [{k: v for k, v in asdict(a).items()} for a in t.adjustments],
        "challenges": [c.to_json() for c in await challenges(services.db, r.id)],  # liveness, in the order issued
    })


async def open_view(request: web.Request) -> web.Response:
    user = staff(request)
    stream = request.app[LIVE].get_session(request.match_info["session_id"])
    if stream is None:
        raise ApiError(404, "not_found", "that session is not live on this server")
    body = await read_json(request)
    sdp = field(body, "sdp", max_len=MAX_SDP)
    if field(body, "type") != "offer":
        raise ApiError(400, "bad_field", "field 'type' must be 'offer'")
    config = rtc_configuration(ice_servers_for(request.app[SETTINGS], "node", request.app[SERVICES].clock.now()))
    try:
        answer, viewer_id = await request.app[VIEWERS].open(stream.session_id, user.id, stream.latest, sdp, config,
                                                            request[WEB_SESSION].id)
    except ViewError as exc:
        raise ApiError(409 if exc.code == "too_many_viewers" else 400, exc.code, str(exc)) from None
    return web.json_response({"sdp": answer.sdp, "type": answer.type, "viewer_id": viewer_id})


async def close_view(request: web.Request) -> web.Response:
    user = staff(request)
    viewers = request.app[VIEWERS]
    viewer_id = request.match_info["viewer_id"]
    if viewers.owner(viewer_id) != user.id:
        raise ApiError(404, "not_found", "no such view")
    await viewers.close(viewer_id)
    return web.json_response({"ok": True})


def _day(value: str | None, name: str, default: datetime) -> datetime:
    if not value:
        return default
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ApiError(400, "bad_field", f"'{name}' must be a date like 2027-04-30") from None


async def export_csv(request: web.Request) -> web.Response:
    staff(request)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = _day(request.query.get("from"), "from", today.replace(day=1))
    last = _day(request.query.get("to"), "to", today)
    if last < start:
        raise ApiError(400, "bad_field", "'to' must not be before 'from'")
    max_days = request.app[SETTINGS].export_max_days
    if (last - start).days + 1 > max_days:
        raise ApiError(400, "bad_field", f"the range spans more than {max_days} days; export it in parts")
    try:
        end = last + timedelta(days=1)  # inclusive of the last day
    except OverflowError:
        raise ApiError(400, "bad_field", "'to' is past the last date we can count to") from None
    rows = await export_rows(request.app[SERVICES].db, start.timestamp(), end.timestamp())
    name = f"proctor-{start:%Y%m%d}-{end - timedelta(days=1):%Y%m%d}.csv"
    return web.Response(text=to_csv(rows), content_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def enrollments(request: web.Request) -> web.Response:
    staff(request)
    pending = await request.app[SERVICES].students.pending_enrollments()
    return web.json_response({"enrollments": [
        {"user_id": p.user_id, "srn": p.srn, "name": p.name,
         "photos": [{"id": pid, "url": f"/api/proctor/enrollments/{p.user_id}/photos/{pid}"} for pid in p.photo_ids]}
        for p in pending]})


async def enrollment_photo(request: web.Request) -> web.Response:
    user = staff(request)
    try:
        uid, pid = int(request.match_info["user_id"]), int(request.match_info["photo_id"])
    except ValueError:
        raise ApiError(404, "not_found", "no such photo") from None
    data = await request.app[SERVICES].students.photo(uid, pid, viewed_by=user.id)
    if data is None:
        raise ApiError(404, "not_found", "no such photo")
    kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return web.Response(body=data, content_type=kind, headers={"Cache-Control": "private, no-store"})


async def decide_enrollment(request: web.Request) -> web.Response:
    user = staff(request)
    try:
        uid = int(request.match_info["user_id"])
    except ValueError:
        raise ApiError(404, "not_found", "no such student") from None
    body = await read_json(request)
    action = field(body, "action", max_len=16)
    note = field(body, "note", required=False, max_len=1000)
    students = request.app[SERVICES].students
    target = await students.get(uid)
    if target is None or target.role is not Role.STUDENT or target.enrollment_status != "pending":
        raise ApiError(404, "not_found", "no pending enrollment for that student")
    if action == "approve":
        photo_ids = body.get("photo_ids")
        if not isinstance(photo_ids, list) or not photo_ids or not all(
                isinstance(p, int) and not isinstance(p, bool) for p in photo_ids):
            raise ApiError(400, "bad_field", "field 'photo_ids' must list the ids of the photos you approve")
        try:
            await students.approve_enrollment(uid, photo_ids, actor=user.id, note=note)
        except EnrollmentChanged as exc:
            raise ApiError(409, "enrollment_changed", str(exc)) from None
        except UnknownUser:
            raise ApiError(404, "not_found", "no pending enrollment for that student") from None
        status = "approved"
    elif action == "reject":
        await students.reject_enrollment(uid, actor=user.id, note=note)
        status = "none"
    else:
        raise ApiError(400, "bad_field", "'action' must be approve or reject")
    return web.json_response({"user_id": uid, "enrollment": status})


async def my_adjustments(request: web.Request) -> web.Response:
    """Every change to my credit, newest first: time a proctor voided ("voided", `seconds` removed from a
    session) and an admin's explicit adjustments ("adjustment", `seconds` signed, the reason as `note`).
    `delta_seconds` is the signed effect of each."""
    user = current_user(request)
    db = request.app[SERVICES].db
    voided = [{"kind": "voided", "session_id": a.session_id, "module_id": a.module_id, "topic_id": a.topic_id,
               "seconds": a.seconds, "delta_seconds": -a.seconds, "note": a.note, "at": a.at}
              for a in await adjustments_for_user(db, user.id)]
    explicit = [{"kind": "adjustment", "session_id": None, "module_id": a.module_id, "topic_id": None,
                 "seconds": a.seconds, "delta_seconds": a.seconds, "note": a.reason, "at": a.at}
                for a in await adjustments_of(db, user.id)]
    return web.json_response({"adjustments": sorted(voided + explicit, key=lambda a: -float(a["at"]))})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/proctor/sessions", sessions)
    r.add_get("/api/proctor/events", events)
    r.add_get("/api/proctor/flags", flags)
    r.add_post("/api/proctor/flags/{flag_id}/review", review)
    r.add_get("/api/proctor/flags/{flag_id}/snapshot", snapshot)
    r.add_get("/api/proctor/sessions/{session_id}/timeline", timeline)
    r.add_post("/api/proctor/sessions/{session_id}/view", open_view)
    r.add_delete("/api/proctor/views/{viewer_id}", close_view)
    r.add_get("/api/proctor/export.csv", export_csv)
    r.add_get("/api/proctor/enrollments", enrollments)
    r.add_get("/api/proctor/enrollments/{user_id}/photos/{photo_id}", enrollment_photo)
    r.add_post("/api/proctor/enrollments/{user_id}", decide_enrollment)
    r.add_get("/api/adjustments", my_adjustments)
