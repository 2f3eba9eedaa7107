"""Student routes of the module tests (SPMT): eligibility and slots, booking, the attempt, answers.

docs/api-spmt.md is the contract. Booking is refused during a maintenance window (503, Retry-After).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from proctor.catalog import Module, Topic
from proctor.spmt import Refused
from proctor.spmt_attempts import attempt_topic
from proctor.users import Role

from ..http import ApiError, field, read_json
from ..keys import SPMT
from .auth import current_user, refuse_during_maintenance

# Error code → HTTP status; anything else the domain refuses is a 409.
STATUS = {"not_found": 404, "no_such_slot": 404, "unknown_module": 404, "unknown_order": 404,
          "payment_required": 402, "bad_choice": 400, "amount_mismatch": 400, "payment_unavailable": 502}


def refused(exc: Refused) -> ApiError:
    return ApiError(STATUS.get(exc.code, 409), exc.code, exc.message)


MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer do not exist (and would overflow SQLite's binding)


def _int_path(request: web.Request, name: str) -> int:
    try:
        value = int(request.match_info[name])
    except ValueError:
        value = -1
    if not 0 < value <= MAX_ID:
        raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')}")
    return value


def _id_field(body: dict[str, Any], name: str) -> int:
    value = field(body, name, int)
    if isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise ApiError(400, "bad_field", f"field {name!r} must be a positive integer id")
    return int(value)


async def overview(request: web.Request) -> web.Response:
    """Eligibility per module, bookable slots, my bookings and every attempt (the history)."""
    user = current_user(request, Role.STUDENT)
    spmt = request.app[SPMT]
    await spmt.attempts.finalize_due()  # time ran out on an unsubmitted attempt: score it now
    eligibility = await spmt.bookings.eligibility(user.id)
    attempts = await spmt.attempts.find(user_id=user.id)
    modules = []
    for m in spmt.bookings.catalog.modules:
        eligible, have, need = eligibility[m.id]
        modules.append({"module_id": m.id, "title": m.title, "eligible": eligible,
                        "credited_seconds": round(have, 3), "required_seconds": need,
                        "fee_paise": spmt.bookings.config.fee_paise,
                        "attempts": [a.to_json() for a in attempts if a.module_id == m.id]})
    slots = await spmt.bookings.list_slots(bookable_only=True)
    bookings = await spmt.bookings.bookings(user.id)
    return web.json_response({"modules": modules, "slots": [s.to_json() for s in slots],
                              "bookings": [b.to_json() for b in bookings]})


async def book(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    await refuse_during_maintenance(request)
    body = await read_json(request)
    module_id = field(body, "module_id", max_len=128)
    slot_id = _id_field(body, "slot_id")
    try:
        booking = await request.app[SPMT].bookings.book(user.id, module_id, slot_id)
    except Refused as exc:
        raise refused(exc) from None
    return web.json_response(booking.to_json(), status=201)


async def cancel(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    try:
        booking = await request.app[SPMT].bookings.cancel_booking(user.id, request.match_info["booking_id"])
    except Refused as exc:
        raise refused(exc) from None
    return web.json_response(booking.to_json())


async def reschedule(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    await refuse_during_maintenance(request)
    slot_id = _id_field(await read_json(request), "slot_id")
    try:
        booking = await request.app[SPMT].bookings.reschedule(user.id, request.match_info["booking_id"], slot_id)
    except Refused as exc:
        raise refused(exc) from None
    return web.json_response(booking.to_json())


async def attempt_target(request: web.Request, user_id: int, attempt_id: str) -> tuple[Module, Topic]:
    """The module and the pseudo-topic an attempt's proctoring stream is recorded under; 404/409 if the
    attempt is not the student's or is over."""
    try:
        attempt = await request.app[SPMT].attempts.in_progress(user_id, attempt_id)
    except Refused as exc:
        raise refused(exc) from None
    module = request.app[SPMT].bookings.catalog.module(attempt.module_id)
    if module is None:
        raise ApiError(404, "unknown_module", "the attempt's module is no longer in the catalog")
    return module, Topic(attempt_topic(attempt.id), f"Module test: {module.title}")


def _attempt_json(attempt: Any, questions: list[dict[str, Any]]) -> dict[str, Any]:
    return {**attempt.to_json(), "questions": questions}


async def start_attempt(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    try:
        attempt, questions = await request.app[SPMT].attempts.start(user.id, request.match_info["booking_id"])
    except Refused as exc:
        raise refused(exc) from None
    return web.json_response(_attempt_json(attempt, questions), status=201)


async def get_attempt(request: web.Request) -> web.Response:
    """An attempt with its questions and saved answers (to resume after a reload), or its result."""
    user = current_user(request, Role.STUDENT)
    attempts = request.app[SPMT].attempts
    await attempts.finalize_due()
    attempt = await attempts.get(request.match_info["attempt_id"])
    if attempt is None or attempt.user_id != user.id:
        raise ApiError(404, "not_found", "no such attempt")
    questions = await attempts.questions(attempt.id) if attempt.submitted_at is None else []
    return web.json_response(_attempt_json(attempt, questions))


async def answer(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    question_id = _int_path(request, "question_id")
    choice = _id_field(await read_json(request), "choice")
    try:
        await request.app[SPMT].attempts.answer(user.id, request.match_info["attempt_id"], question_id, choice)
    except Refused as exc:
        raise refused(exc) from None
    return web.json_response({"saved": True, "question_id": question_id, "choice": choice})


async def submit(request: web.Request) -> web.Response:
    user = current_user(request, Role.STUDENT)
    try:
        attempt = await request.app[SPMT].attempts.submit(user.id, request.match_info["attempt_id"])
    except Refused as exc:
        raise refused(exc) from None
    return web.json_response(attempt.to_json())


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/spmt", overview)
    r.add_post("/api/spmt/bookings", book)
    r.add_post("/api/spmt/bookings/{booking_id}/cancel", cancel)
    r.add_post("/api/spmt/bookings/{booking_id}/reschedule", reschedule)
    r.add_post("/api/spmt/bookings/{booking_id}/attempt", start_attempt)
    r.add_get("/api/spmt/attempts/{attempt_id}", get_attempt)
    r.add_put("/api/spmt/attempts/{attempt_id}/answers/{question_id}", answer)
    r.add_post("/api/spmt/attempts/{attempt_id}/submit", submit)
