"""Staff routes of the module tests and explicit credit adjustments.

Proctors and admins read slots, bookings and attempts (with their flags) and export results;
only admins add or cancel slots and adjust credit. Students read their adjustments at
`GET /api/adjustments` (server/api/proctor.py), which lists voided time and these together.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from aiohttp import web

from proctor.credit_adjust import UnknownStudent, adjust
from proctor.reports import safe_cell
from proctor.spmt import Refused, iso
from proctor.users import Role, User

from ..http import ApiError, field, read_json
from ..keys import SERVICES, SPMT
from .proctor import staff
from .spmt import refused

RESULTS_HEADER = ("srn", "name", "module_id", "attempt_id", "started_at", "submitted_at", "submit_reason",
                  "correct", "total", "score_pct", "passed", "provisional", "flags_open", "flags_total")


def admin(request: web.Request) -> User:
    user = staff(request)
    if user.role is not Role.ADMIN:
        raise ApiError(403, "forbidden", "this needs the admin role")
    return user


def _who(names: dict[int, tuple[str | None, str]], user_id: int) -> dict[str, Any]:
    srn, name = names.get(user_id, (None, ""))
    return {"user_id": user_id, "srn": srn, "name": name}


async def overview(request: web.Request) -> web.Response:
    staff(request)
    spmt = request.app[SPMT]
    await spmt.attempts.finalize_due()
    slots = await spmt.bookings.list_slots()
    bookings = await spmt.bookings.bookings()
    attempts = await spmt.attempts.find()
    names = await spmt.attempts.student_names(sorted({b.user_id for b in bookings} | {a.user_id for a in attempts}))
    return web.json_response({
        "slots": [s.to_json() for s in slots],
        "bookings": [{**b.to_json(), "student": _who(names, b.user_id)} for b in bookings],
        "attempts": [{**a.to_json(), "student": _who(names, a.user_id)} for a in attempts],
        "banks": await spmt.attempts.bank_sizes(),
    })


def _start(value: str) -> float:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "bad_field", "'start' must be an ISO 8601 time with an offset, e.g. "
                                         "2027-04-11T10:00+05:30") from None
    if dt.tzinfo is None:
        raise ApiError(400, "bad_field", "'start' needs a UTC offset (e.g. Z or +05:30)")
    try:
        return dt.timestamp()
    except (OverflowError, ValueError):
        raise ApiError(400, "bad_field", "'start' is out of range") from None


async def add_slot(request: web.Request) -> web.Response:
    user = admin(request)
    body = await read_json(request)
    module_id = field(body, "module_id", max_len=128)
    start = _start(field(body, "start", max_len=64))
    minutes, capacity = field(body, "minutes", int), field(body, "capacity", int)
    if isinstance(minutes, bool) or isinstance(capacity, bool):
        raise ApiError(400, "bad_field", "minutes and capacity must be integers")
    try:
        slot = await request.app[SPMT].bookings.add_slot(module_id, start, minutes, capacity, user.id)
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc)) from None
    return web.json_response(slot.to_json(), status=201)


async def cancel_slot(request: web.Request) -> web.Response:
    user = admin(request)
    try:
        slot_id = int(request.match_info["slot_id"])
    except ValueError:
        slot_id = -1
    if not 0 < slot_id < 2**31:
        raise ApiError(404, "not_found", "no such slot")
    try:
        count = await request.app[SPMT].bookings.cancel_slot(slot_id, user.id)
    except Refused as exc:
        raise refused(exc) from None
    return web.json_response({"slot_id": slot_id, "bookings_cancelled": count})


async def results_csv(request: web.Request) -> web.Response:
    """Every scored attempt, one row each; cells that a spreadsheet would run as formulas are quoted."""
    staff(request)
    attempts = request.app[SPMT].attempts
    await attempts.finalize_due()
    rows = [a for a in await attempts.find() if a.submitted_at is not None]
    names = await attempts.student_names(sorted({a.user_id for a in rows}))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RESULTS_HEADER)
    for a in rows:
        srn, name = names.get(a.user_id, (None, ""))
        writer.writerow([safe_cell(srn or ""), safe_cell(name), safe_cell(a.module_id), a.id, iso(a.started_at),
                         iso(a.submitted_at or a.ends_at), a.submit_reason or "", a.correct, a.total,
                         f"{a.score_pct or 0.0:.2f}", "yes" if a.passed else "no", "yes" if a.provisional else "no",
                         a.flags_open, a.flags_total])
    return web.Response(text=out.getvalue(), content_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="spmt-results.csv"'})


async def credit_adjustment(request: web.Request) -> web.Response:
    """An admin grants (seconds > 0) or removes (< 0) a module's credit, with a reason the student sees."""
    user = admin(request)
    body = await read_json(request)
    srn = field(body, "srn", max_len=64)
    module_id = field(body, "module_id", max_len=128)
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ApiError(400, "bad_field", "field 'seconds' must be a number")
    reason = field(body, "reason", max_len=2000)
    services = request.app[SERVICES]
    if services.catalog.module(module_id) is None:
        raise ApiError(404, "unknown_module", f"no module {module_id!r} in the catalog")
    student = await services.students.get_by_srn(srn)
    if student is None or student.role is not Role.STUDENT:
        raise ApiError(404, "not_found", "no student with that SRN")
    try:
        made = await adjust(services.db, services.clock, user_id=student.id, module_id=module_id, seconds=seconds,
                            reason=reason, by_user_id=user.id)
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc)) from None
    except UnknownStudent:
        raise ApiError(404, "not_found", "no student with that SRN") from None
    return web.json_response({**made.to_json(), "srn": student.srn}, status=201)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/proctor/spmt", overview)
    r.add_post("/api/proctor/spmt/slots", add_slot)
    r.add_post("/api/proctor/spmt/slots/{slot_id}/cancel", cancel_slot)
    r.add_get("/api/proctor/spmt/results.csv", results_csv)
    r.add_post("/api/proctor/credit-adjustments", credit_adjustment)
