"""Study routes: lesson files and reading lessons, elective choices, dated history; and the lesson and
elective parts of the catalog, progress and offers (student.py and webrtc.py call these).

Lesson files are served only to a logged-in user, only if the installed pack's manifest lists them
(so nothing else in or beyond the content directory is reachable), with HTTP Range for seeking.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from proctor.activity import ActivityGate
from proctor.catalog import Module, Topic
from proctor.content import COMPLETE_FRACTION, ContentError, ContentPack, Lesson, reading_html
from proctor.study import ElectiveError, credited_by_lesson, history, time_zone
from proctor.users import Role, User

from ..http import ApiError, field, read_json
from ..keys import CONTENT, ELECTIVES, SERVICES, SETTINGS
from .auth import current_user

LESSON_CACHE = "private, max-age=3600"  # per user (logged-in only), never in a shared cache
MAX_HISTORY_DAYS = 366


def lesson_url(lesson: Lesson) -> str:
    return f"/api/content/{lesson.file}" if lesson.kind == "video" else f"/api/lessons/{lesson.id}"


def lesson_json(lesson: Lesson, credited: dict[str, float] | None = None) -> dict[str, Any]:
    """A lesson as /api/catalog lists it; with `credited`, its progress too (as /api/progress does)."""
    out: dict[str, Any] = {"id": lesson.id, "title": lesson.title, "kind": lesson.kind,
                           "duration_s": lesson.duration_s, "url": lesson_url(lesson)}
    if credited is not None:
        seconds = credited.get(lesson.id, 0.0)
        out["credited_seconds"] = round(seconds, 3)
        out["complete"] = seconds >= COMPLETE_FRACTION * lesson.duration_s
    return out


def topic_lessons(request: web.Request, topic: Topic, credited: dict[str, float] | None = None
                  ) -> list[dict[str, Any]]:
    return [lesson_json(lesson, credited) for lesson in request.app[CONTENT].for_topic(topic.id)]


async def lesson_credit(request: web.Request, user: User) -> dict[str, float]:
    return await credited_by_lesson(request.app[SERVICES].db, user.id)


async def progress_extras(request: web.Request, user: User, modules: list[dict[str, Any]]) -> dict[str, Any]:
    """Marks the chosen electives and adds what the student must do: A + B + the chosen C and D."""
    electives = request.app[ELECTIVES]
    choices = await electives.choices(user.id)
    required = credited = 0.0
    for m in modules:
        elective = m["set"] in electives.sets
        m["elective"] = elective
        m["chosen"] = (not elective) or choices.get(m["set"]) == m["id"]
        m["hours_left"] = round(max(0.0, m["required_seconds"] - m["credited_seconds"]) / 3600, 3)
        # SPOM: a module's SPMT can be booked once its hours are done.
        m["spmt_bookable"] = m["chosen"] and m["credited_seconds"] >= m["required_seconds"]
        if m["chosen"]:
            required += m["required_seconds"]
            credited += min(m["credited_seconds"], m["required_seconds"])
    pending = sorted(s for s in electives.sets if s not in choices)
    return {"electives": {s: choices.get(s) for s in electives.sets}, "electives_pending": pending,
            "required_seconds": required, "credited_seconds": round(credited, 3),
            "complete": not pending and credited >= required}


async def check_offer(request: web.Request, user: User, module: Module, topic: Topic, lesson_id: str | None
                      ) -> ActivityGate | None:
    """409 for a topic of an elective module not chosen; for lesson mode, the gate of the topic's lessons."""
    electives = request.app[ELECTIVES]
    if not electives.allowed(module, await electives.choices(user.id)):
        raise ApiError(409, "elective_not_chosen",
                       f"{module.title} is an elective of set {module.set} you have not chosen; choose it first")
    if lesson_id is None:
        return None  # topic mode: credit on verification alone (content hosted elsewhere, e.g. an LMS)
    lessons = request.app[CONTENT].for_topic(topic.id)
    if lesson_id not in {lesson.id for lesson in lessons}:
        raise ApiError(404, "unknown_lesson", f"no lesson {lesson_id!r} in topic {topic.id!r}")
    return ActivityGate([lesson.id for lesson in lessons], stale_s=request.app[SETTINGS].activity_stale_s)


# -- lesson files ----------------------------------------------------------------------------------


async def content_file(request: web.Request) -> web.StreamResponse:
    current_user(request)
    pack: ContentPack = request.app[CONTENT]
    path = pack.file_path(request.match_info["path"])
    if path is None:
        raise ApiError(404, "not_found", "no such lesson file")
    size = path.stat().st_size
    try:
        wanted = request.http_range
    except ValueError:
        raise ApiError(416, "bad_range", "the Range header is not a byte range",
                       headers={"Content-Range": f"bytes */{size}"}) from None
    start = wanted.start if wanted.start is not None and wanted.start >= 0 else None
    if (start is not None and start >= size) or (wanted.stop is not None and wanted.stop <= (start or 0)):
        raise ApiError(416, "range_not_satisfiable", f"the file has {size} bytes",
                       headers={"Content-Range": f"bytes */{size}"})
    media = next((lesson.media_type for lesson in pack.lessons if pack.file_path(lesson.file) == path),
                 "application/octet-stream")
    return web.FileResponse(path, headers={"Cache-Control": LESSON_CACHE, "Content-Type": media})


async def reading(request: web.Request) -> web.Response:
    current_user(request)
    pack: ContentPack = request.app[CONTENT]
    lesson = pack.lesson(request.match_info["lesson_id"])
    if lesson is None or lesson.kind != "reading":
        raise ApiError(404, "not_found", "no such reading lesson")
    try:
        html = reading_html(pack, lesson)
    except (ContentError, OSError):
        raise ApiError(404, "not_found", "the lesson's file is missing") from None
    return web.json_response({"id": lesson.id, "title": lesson.title, "html": html},
                             headers={"Cache-Control": "private, no-cache"})


# -- electives ---------------------------------------------------------------------------------------


def _electives_json(request: web.Request, choices: dict[str, str], locked: dict[str, bool]) -> dict[str, Any]:
    electives = request.app[ELECTIVES]
    return {"sets": [{"set": name, "module_id": choices.get(name), "locked": locked.get(name, False),
                      "modules": [{"id": m.id, "title": m.title} for m in modules]}
                     for name, modules in electives.sets.items()]}


async def _elective_state(request: web.Request, user_id: int) -> dict[str, Any]:
    electives = request.app[ELECTIVES]
    choices = await electives.choices(user_id)
    locked = {name: await electives.locked(user_id, name) for name in electives.sets}
    return _electives_json(request, choices, locked)


async def get_electives(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    return web.json_response(await _elective_state(request, user.id))


async def _choose(request: web.Request, user_id: int, admin_id: int | None) -> web.Response:
    body = await read_json(request)
    set_name, module_id = field(body, "set", max_len=32), field(body, "module_id", max_len=128)
    try:
        await request.app[ELECTIVES].choose(user_id, set_name, module_id, admin_id=admin_id)
    except ElectiveError as exc:
        status = 409 if exc.code == "elective_locked" else 400
        raise ApiError(status, exc.code, str(exc)) from None
    return web.json_response(await _elective_state(request, user_id))


async def post_electives(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    return await _choose(request, user.id, None)


async def admin_electives(request: web.Request) -> web.Response:
    """An admin changes a student's elective, even after credit in that set."""
    admin = current_user(request, Role.ADMIN)
    raw = request.match_info["user_id"]
    user_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0
    student = await request.app[SERVICES].students.get(user_id) if user_id > 0 else None
    if student is None or student.role is not Role.STUDENT:
        raise ApiError(404, "not_found", "no such student")
    return await _choose(request, user_id, admin.id)


# -- history ------------------------------------------------------------------------------------------


async def get_history(request: web.Request) -> web.Response:
    user = current_user(request)
    raw = request.query.get("days", "14")
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_HISTORY_DAYS:
        raise ApiError(400, "bad_field", f"days must be a whole number from 1 to {MAX_HISTORY_DAYS}")
    services, settings = request.app[SERVICES], request.app[SETTINGS]
    fresh = await services.students.get(user.id) or user  # the zone may have changed in this login
    name = fresh.time_zone or settings.time_zone
    result = await history(services.db, user.id, days, services.clock.now(), time_zone(name))
    return web.json_response({"time_zone": name, "own_time_zone": fresh.time_zone, **result.to_json()})


async def put_time_zone(request: web.Request) -> web.Response:
    """The user's own time zone for their history's days; null goes back to the server's."""
    user = current_user(request)
    body = await read_json(request)
    raw = body.get("time_zone")
    if raw is not None and not isinstance(raw, str):
        raise ApiError(400, "bad_field", "'time_zone' must be an IANA name such as Asia/Kolkata, or null")
    if raw is not None:
        try:
            time_zone(raw)
        except ValueError as exc:
            raise ApiError(400, "bad_field", str(exc)) from None
    await request.app[SERVICES].students.set_time_zone(user.id, raw)
    settings = request.app[SETTINGS]
    return web.json_response({"time_zone": raw or settings.time_zone, "own_time_zone": raw})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/content/{path:.+}", content_file)
    app.router.add_get("/api/lessons/{lesson_id}", reading)
    app.router.add_get("/api/electives", get_electives)
    app.router.add_post("/api/electives", post_electives)
    app.router.add_post("/api/students/{user_id}/electives", admin_electives)
    app.router.add_get("/api/history", get_history)
    app.router.add_put("/api/me/time-zone", put_time_zone)
