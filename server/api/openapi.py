"""The OpenAPI 3.1 description of every JSON route, served at `/api/openapi.json`.

Kept beside the handlers as data, and checked by tests against the router (every route is
described) and by schemathesis against the running server (no 5xx, responses match).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..keys import SETTINGS

S = dict[str, Any]


def obj(props: S, required: list[str] | None = None, extra: bool = True) -> S:
    out: S = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if not extra:
        out["additionalProperties"] = False
    return out


STR: S = {"type": "string"}
NUM: S = {"type": "number"}
INT: S = {"type": "integer"}
BOOL: S = {"type": "boolean"}
NULLABLE_NUM: S = {"type": ["number", "null"]}
NULLABLE_STR: S = {"type": ["string", "null"]}

ERROR: S = obj({"error": obj({"code": STR, "message": STR}, ["code", "message"])}, ["error"])
USER: S = obj({"srn": NULLABLE_STR, "username": NULLABLE_STR, "name": STR, "role": STR, "staff": BOOL,
               "totp_enabled": BOOL, "time_zone": NULLABLE_STR}, ["name", "role", "staff", "totp_enabled"])
LOGIN_OK: S = obj({"user": USER, "csrf_token": STR, "enrollment": STR}, ["user", "csrf_token"])
LESSON: S = obj({"id": STR, "title": STR, "kind": {"enum": ["video", "reading"]}, "duration_s": NUM, "url": STR,
                 "credited_seconds": NUM, "complete": BOOL}, ["id", "title", "kind", "duration_s", "url"])
TOPIC: S = obj({"id": STR, "title": STR, "lessons": {"type": "array", "items": LESSON}}, ["id", "title"])
MODULE: S = obj({"id": STR, "set": STR, "title": STR, "required_seconds": NUM, "mandatory": BOOL,
                 "topics": {"type": "array", "items": TOPIC}}, ["id", "set", "title", "required_seconds", "topics"])
PROGRESS_MODULE: S = obj({**MODULE["properties"], "credited_seconds": NUM,
                          "elective": BOOL, "chosen": BOOL, "hours_left": NUM, "spmt_bookable": BOOL,
                          "topics": {"type": "array", "items": obj({"id": STR, "title": STR, "credited_seconds": NUM,
                                                                    "lessons": {"type": "array", "items": LESSON}},
                                                                   ["id", "title", "credited_seconds"])}},
                         ["id", "set", "title", "required_seconds", "credited_seconds", "topics"])
FLAG: S = obj({"kind": STR, "started_at": NUM, "ended_at": NULLABLE_NUM}, ["kind", "started_at", "ended_at"])
SESSION: S = obj({"id": STR, "topic_id": STR, "module_id": STR, "state": STR, "reason": STR, "live": BOOL,
                  "started_at": NUM, "ended_at": NULLABLE_NUM, "end_reason": NULLABLE_STR, "credited_seconds": NUM,
                  "provisional_seconds": NUM, "voided_seconds": NUM,
                  "samples": obj({"total": INT, "verified": INT}, ["total", "verified"]),
                  "flags": {"type": "array", "items": FLAG}},
                 ["id", "topic_id", "state", "reason", "credited_seconds", "samples", "flags"])


OK: S = obj({"ok": BOOL}, ["ok"])
LOGIN_OR_2FA: S = {"oneOf": [LOGIN_OK, obj({"totp_required": {"const": True}, "challenge": STR},
                                           ["totp_required", "challenge"])]}
PASSWORD_POLICY: S = obj({"min_length": INT, "max_length": INT, "rules": {"type": "array", "items": obj(
    {"id": STR, "text": STR}, ["id", "text"])}}, ["min_length", "max_length", "rules"])
WINDOW: S = obj({"start": NUM, "end": NUM, "message": STR}, ["start", "end", "message"])


FLAG_VIEW: S = obj({"flag_id": INT, "session_id": STR, "kind": STR, "review": STR,
                    "snapshot_url": NULLABLE_STR}, ["flag_id", "session_id", "kind", "review"])
ELECTIVES: S = obj({"sets": {"type": "array", "items": obj(
    {"set": STR, "module_id": NULLABLE_STR, "locked": BOOL, "modules": {"type": "array"}},
    ["set", "module_id", "locked", "modules"])}}, ["sets"])
HISTORY_SESSION: S = obj({"session_id": STR, "topic_id": STR, "lesson_id": NULLABLE_STR, "started_at": NUM,
                          "ended_at": NULLABLE_NUM, "credited_seconds": NUM,
                          "samples": obj({"total": INT, "verified": INT}, ["total", "verified"])},
                         ["session_id", "topic_id", "lesson_id", "started_at", "ended_at", "credited_seconds"])
CSRF: S = {"name": "X-CSRF-Token", "in": "header", "required": False, "schema": STR}
FLAG_ID: S = {"name": "flag_id", "in": "path", "required": True, "schema": STR}
USER_ID: S = {"name": "user_id", "in": "path", "required": True, "schema": STR}


def _errors(errors: tuple[int, ...]) -> S:
    return {str(status): {"description": "error", "content": {"application/json": {"schema": ERROR}}}
            for status in sorted(errors)}


def _responses(ok_status: int, ok_schema: S, errors: tuple[int, ...]) -> S:
    out: S = {str(ok_status): {"description": "OK", "content": {"application/json": {"schema": ok_schema}}}}
    for status in sorted({*errors, 400, 413} if errors else errors):
        out[str(status)] = {"description": "error", "content": {"application/json": {"schema": ERROR}}}
    return out


def op(summary: str, ok: S, errors: tuple[int, ...] = (), body: S | None = None, status: int = 200,
       auth: bool = True) -> S:
    errs = (*errors, 401) if auth else errors
    out: S = {"summary": summary, "responses": _responses(status, ok, errs)}
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        out["responses"].update(_responses(status, ok, (*errs, 400, 413, 415)))  # 415: not application/json
        if auth:
            out["parameters"] = [{"name": "X-CSRF-Token", "in": "header", "required": False, "schema": STR}]
            out["responses"].update(_responses(status, ok, (403,)))
    return out


SESSION_ID = [{"name": "session_id", "in": "path", "required": True, "schema": STR}]

PATHS: dict[str, dict[str, S]] = {
    "/api/config": {"get": op("ICE servers (signed-in users only, else []), sample interval and the password rules",
                              obj({"ice_servers": {"type": "array"}, "sample_interval_s": NUM,
                                   "password_policy": PASSWORD_POLICY},
                                  ["ice_servers", "sample_interval_s", "password_policy"]), auth=False)},
    "/api/auth/login": {"post": op(
        "Log in with SRN (students) or username (staff) and password",
        LOGIN_OR_2FA, (401, 423, 429, 503),
        obj({"srn": STR, "username": STR, "password": STR, "remember": BOOL}, ["password"]),
        auth=False)},
    "/api/auth/logout": {"post": op("End this login (and its live stream)", obj({"ok": BOOL}), (403,),
                                    obj({}))},
    "/api/me": {"get": op("The logged-in user", LOGIN_OK)},
    "/api/catalog": {"get": op("Modules and topics", obj({"modules": {"type": "array", "items": MODULE}}))},
    "/api/progress": {"get": op("Credited time by module, topic and lesson; electives and the required total",
                                obj({"modules": {"type": "array", "items": PROGRESS_MODULE},
                                     "electives": obj({}), "electives_pending": {"type": "array", "items": STR},
                                     "required_seconds": NUM, "credited_seconds": NUM, "complete": BOOL},
                                    ["modules", "required_seconds", "credited_seconds"]))},
    "/api/enrollment": {"post": op(
        "Enroll reference photos captured from the webcam",
        obj({"enrollment": STR}), (403, 409, 422, 429, 503),
        obj({"photos": {"type": "array", "items": STR, "minItems": 1, "maxItems": 5}}, ["photos"]))},
    "/api/webrtc/offer": {"post": op(
        "Start streaming: SDP offer in, SDP answer out (ICE fully gathered)",
        obj({"sdp": STR, "type": STR, "session_id": STR}, ["sdp", "type", "session_id"]),
        (403, 404, 409, 429, 503),
        obj({"sdp": STR, "type": {"enum": ["offer"]}, "topic_id": STR, "lesson_id": STR, "attempt_id": STR},
            ["sdp", "type"]))},
    "/api/sessions/{session_id}": {"get": {**op("A session's state, credit and flags", SESSION, (404,)),
                                           "parameters": SESSION_ID}},
    "/api/sessions/{session_id}/end": {"post": {**op("End a session", obj({"ok": BOOL, "id": STR}), (403, 404),
                                                     obj({})),
                                                "parameters": SESSION_ID}},
    "/api/openapi.json": {"get": op("This document", obj({}), auth=False)},
    "/api/auth/totp": {"post": op("Second login step: authenticator or recovery code", LOGIN_OR_2FA,
                                  (401, 423, 429, 503),
                                  obj({"challenge": STR, "code": STR, "remember": BOOL}, ["challenge", "code"]),
                                  auth=False)},
    "/api/auth/otp/request": {"post": op("Send a login code to the registered mobile (202, or 429 per address)", OK,
                                         (429, 503),
                                         obj({"srn": STR}, ["srn"]), status=202, auth=False)},
    "/api/auth/otp/verify": {"post": op("Log in with the SMS code", LOGIN_OR_2FA, (401, 423, 429, 503),
                                        obj({"srn": STR, "code": STR, "remember": BOOL}, ["srn", "code"]),
                                        auth=False)},
    "/api/auth/activate/request": {"post": op("Send an activation code (202, or 429 per address)", OK, (429, 503),
                                              obj({"srn": STR}, ["srn"]), status=202, auth=False)},
    "/api/auth/activate": {"post": op("Set the first password with the activation code", LOGIN_OR_2FA,
                                      (401, 423, 429, 503),
                                      obj({"srn": STR, "code": STR, "new_password": STR},
                                          ["srn", "code", "new_password"]), auth=False)},
    "/api/auth/password/forgot": {"post": op("Send a password-reset code (202, or 429 per address)", OK, (429, 503),
                                             obj({"srn": STR}, ["srn"]), status=202, auth=False)},
    "/api/auth/password/reset": {"post": op("Set a new password with the reset code; ends every session", OK,
                                            (401, 423, 429),
                                            obj({"srn": STR, "code": STR, "new_password": STR},
                                                ["srn", "code", "new_password"]), auth=False)},
    "/api/auth/password/change": {"post": op("Change the password; ends every other session", OK, (423,),
                                             obj({"current_password": STR, "new_password": STR},
                                                 ["current_password", "new_password"]))},
    "/api/auth/sessions": {"get": op("This user's active logins", obj({"sessions": {"type": "array", "items": obj(
        {"id": STR, "created_at": NUM, "expires_at": NUM, "user_agent": NULLABLE_STR, "ip": NULLABLE_STR,
         "remember": BOOL, "current": BOOL}, ["id", "created_at", "current"])}}, ["sessions"]))},
    "/api/auth/sessions/{public_id}": {"delete": {
        **op("Revoke one of this user's logins (ends its live stream)", OK, (403, 404)),
        "parameters": [{"name": "public_id", "in": "path", "required": True, "schema": STR},
                       {"name": "X-CSRF-Token", "in": "header", "required": False, "schema": STR}]}},
    "/api/auth/totp/setup": {"post": op("Start two-step verification: secret and QR code",
                                        obj({"secret": STR, "otpauth_uri": STR, "qr": STR},
                                            ["secret", "otpauth_uri", "qr"]), (403, 409, 423),
                                        obj({"password": STR}, ["password"]))},
    "/api/auth/totp/enable": {"post": op("Confirm with a code; returns one-time recovery codes",
                                         obj({"recovery_codes": {"type": "array", "items": STR}},
                                             ["recovery_codes"]),
                                         (403, 409), obj({"code": STR}, ["code"]))},
    "/api/auth/totp/disable": {"post": op("Turn two-step verification off", OK, (403, 423),
                                          obj({"password": STR}, ["password"]))},
    "/api/proctor/sessions": {"get": op("Live sessions on this node (proctors, admins)", obj(
        {"sessions": {"type": "array", "items": obj({"session_id": STR, "state": STR, "reason": STR})},
         "last_event_id": INT}, ["sessions", "last_event_id"]), (403,))},
    "/api/proctor/events": {"get": {
        **op("WebSocket of live events; ?after=ID replays what was missed", obj({}), (403,)),
        "parameters": [{"name": "after", "in": "query", "required": False, "schema": STR}],
        "responses": {"101": {"description": "switching to WebSocket"}, **_errors((400, 401, 403))}}},
    "/api/proctor/flags": {"get": {**op("Flags, newest first", obj({"flags": {"type": "array", "items": FLAG_VIEW}}),
                                        (403,)),
                                   "parameters": [{"name": "status", "in": "query", "required": False, "schema": STR},
                                                  {"name": "limit", "in": "query", "required": False,
                                                   "schema": STR}]}},
    "/api/proctor/flags/{flag_id}/review": {"post": {
        **op("Acknowledge, dismiss (with a note), confirm (voids the flag's span plus one interval, or the "
             "whole session) or undo one's own confirmation", FLAG_VIEW,
             (403, 404, 409), obj({"action": {"enum": ["acknowledge", "dismiss", "confirm", "undo"]},
                                   "scope": {"enum": ["flag", "session"]}, "note": STR}, ["action"])),
        "parameters": [FLAG_ID, CSRF]}},
    "/api/proctor/flags/{flag_id}/snapshot": {"get": {
        **op("The frame that raised the flag, boxes drawn (audited)", {}, (403, 404)),
        "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}}, **_errors((401, 403, 404))},
        "parameters": [FLAG_ID]}},
    "/api/proctor/sessions/{session_id}/timeline": {"get": {
        **op("Samples, credited intervals, flags and adjustments of a session",
             obj({"session": obj({}), "samples": {"type": "array"}, "intervals": {"type": "array"},
                  "flags": {"type": "array"}, "adjustments": {"type": "array"},
                  "challenges": {"type": "array"}},  # liveness head-turn checks, in the order issued
                 ["session", "samples", "intervals", "flags", "adjustments", "challenges"]), (403, 404)),
        "parameters": SESSION_ID}},
    "/api/proctor/sessions/{session_id}/view": {"post": {
        **op("Watch a student's live video: SDP offer (recvonly) in, answer out",
             obj({"sdp": STR, "type": STR, "viewer_id": STR}, ["sdp", "type", "viewer_id"]), (403, 404, 409),
             obj({"sdp": STR, "type": {"enum": ["offer"]}}, ["sdp", "type"])),
        "parameters": [*SESSION_ID, CSRF]}},
    "/api/proctor/views/{viewer_id}": {"delete": {
        **op("Stop watching", OK, (403, 404)),
        "parameters": [{"name": "viewer_id", "in": "path", "required": True, "schema": STR}, CSRF]}},
    "/api/proctor/export.csv": {"get": {
        **op("Credited time and flags per student and topic, as CSV", {}, (403,)),
        "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}, **_errors((400, 401, 403))},
        "parameters": [{"name": "from", "in": "query", "required": False, "schema": STR},
                       {"name": "to", "in": "query", "required": False, "schema": STR}]}},
    "/api/proctor/enrollments": {"get": op("Webcam enrollments waiting for approval", obj(
        {"enrollments": {"type": "array"}}, ["enrollments"]), (403,))},
    "/api/proctor/enrollments/{user_id}/photos/{photo_id}": {"get": {
        **op("A reference photo (audited)", {}, (403, 404)),
        "responses": {"200": {"description": "image", "content": {"image/jpeg": {}, "image/png": {}}},
                      **_errors((401, 403, 404))},
        "parameters": [USER_ID, {"name": "photo_id", "in": "path", "required": True, "schema": STR}]}},
    "/api/proctor/enrollments/{user_id}": {"post": {
        **op("Approve (naming the photo ids seen) or reject a webcam enrollment",
             obj({"user_id": INT, "enrollment": STR}), (403, 404, 409),
             obj({"action": {"enum": ["approve", "reject"]}, "photo_ids": {"type": "array", "items": INT},
                  "note": STR}, ["action"])),
        "parameters": [USER_ID, CSRF]}},
    "/api/adjustments": {"get": op("Every change to my credit: voided time and admins' adjustments, with notes",
                                   obj({"adjustments": {"type": "array"}}, ["adjustments"]))},
    "/api/content/{path}": {"get": {
        **op("A lesson file listed by the installed pack (HTTP Range: 206, 416)", {}, (404, 416)),
        "responses": {"200": {"description": "video", "content": {"video/webm": {}, "video/mp4": {}}},
                      "206": {"description": "part of it"}, **_errors((401, 404, 416))},
        "parameters": [{"name": "path", "in": "path", "required": True, "schema": STR}]}},
    "/api/lessons/{lesson_id}": {"get": {
        **op("A reading lesson as sanitised HTML", obj({"id": STR, "title": STR, "html": STR}, ["id", "title", "html"]),
             (404,)),
        "parameters": [{"name": "lesson_id", "in": "path", "required": True, "schema": STR}]}},
    "/api/electives": {
        "get": op("My elective sets, their modules and my choices", ELECTIVES, (403,)),
        "post": op("Choose the module of an elective set (changeable until credit in that set)", ELECTIVES,
                   (403, 409), obj({"set": STR, "module_id": STR}, ["set", "module_id"]))},
    "/api/students/{user_id}/electives": {"post": {
        **op("An admin changes a student's elective, even after credit", ELECTIVES, (403, 404, 409),
             obj({"set": STR, "module_id": STR}, ["set", "module_id"])),
        "parameters": [USER_ID, CSRF]}},
    "/api/history": {"get": {
        **op("Confirmed credit per day (in the user's own time zone, else the server's) and the sessions of "
             "the last N days",
             obj({"time_zone": STR, "own_time_zone": NULLABLE_STR,
                  "days": {"type": "array", "items": obj({"date": STR, "credited_seconds": NUM},
                                                         ["date", "credited_seconds"])},
                  "sessions": {"type": "array", "items": HISTORY_SESSION}}, ["days", "sessions"]), (400,)),
        "parameters": [{"name": "days", "in": "query", "required": False, "schema": STR}]}},
    "/api/me/time-zone": {"put": op(
        "Set my own time zone (an IANA name) for my history's days; null = the server's",
        obj({"time_zone": STR, "own_time_zone": NULLABLE_STR}, ["time_zone", "own_time_zone"]), (400,),
        obj({"time_zone": NULLABLE_STR}, ["time_zone"]))},
    "/api/maintenance": {"get": op("Current and upcoming maintenance windows",
                                   obj({"active": {"oneOf": [{"type": "null"}, WINDOW]},
                                        "upcoming": {"type": "array", "items": WINDOW}}, ["active", "upcoming"]),
                                   auth=False)},
}



def _path(*names: str) -> list[S]:
    return [{"name": n, "in": "path", "required": True, "schema": STR} for n in names]


PAYMENT: S = obj({"order_id": STR, "amount_paise": INT, "currency": STR, "provider": STR, "status": NULLABLE_STR},
                 ["order_id", "amount_paise", "currency", "provider"])
BOOKING: S = obj({"booking_id": STR, "module_id": STR, "slot_id": INT, "status": STR, "start": STR, "minutes": INT,
                  "fee_paise": INT, "payment": {"oneOf": [{"type": "null"}, PAYMENT]}},
                 ["booking_id", "module_id", "slot_id", "status", "payment"])
SLOT: S = obj({"slot_id": INT, "module_id": STR, "start": STR, "minutes": INT, "seats_left": INT},
              ["slot_id", "module_id", "start", "minutes", "seats_left"])
ATTEMPT: S = obj({"attempt_id": STR, "module_id": STR, "ends_at": STR, "score_pct": NULLABLE_NUM,
                  "passed": {"type": ["boolean", "null"]}, "correct": {"type": ["integer", "null"]}, "total": INT,
                  "provisional": BOOL}, ["attempt_id", "module_id", "ends_at", "score_pct", "passed", "total"])
QUESTIONS: S = {"type": "array", "items": obj({"question_id": INT, "text": STR, "choices": {"type": "array"}},
                                              ["question_id", "text", "choices"])}
CSV_OK: S = {"200": {"description": "CSV", "content": {"text/csv": {}}}, **_errors((401, 403))}

PATHS.update({
    "/api/spmt": {"get": op("Module tests: eligibility per module, bookable slots, my bookings and attempts", obj(
        {"modules": {"type": "array"}, "slots": {"type": "array", "items": SLOT},
         "bookings": {"type": "array", "items": BOOKING}}, ["modules", "slots", "bookings"]), (403,))},
    "/api/spmt/bookings": {"post": op(
        "Book a slot (the booking awaits payment)", BOOKING, (403, 404, 409, 502, 503),
        obj({"module_id": STR, "slot_id": INT}, ["module_id", "slot_id"]), status=201)},
    "/api/spmt/bookings/{booking_id}/cancel": {"post": {
        **op("Cancel before the cut-off; a paid fee is refunded", BOOKING, (403, 404, 409)),
        "parameters": [*_path("booking_id"), CSRF]}},
    "/api/spmt/bookings/{booking_id}/reschedule": {"post": {
        **op("Move to another slot of the module before the cut-off", BOOKING, (403, 404, 409, 503),
             obj({"slot_id": INT}, ["slot_id"])),
        "parameters": [*_path("booking_id"), CSRF]}},
    "/api/spmt/bookings/{booking_id}/attempt": {"post": {
        **op("Start (or resume) the test of a paid booking inside its window",
             {**ATTEMPT, "properties": {**ATTEMPT["properties"], "questions": QUESTIONS}}, (402, 403, 404, 409),
             status=201),
        "parameters": [*_path("booking_id"), CSRF]}},
    "/api/spmt/attempts/{attempt_id}": {"get": {
        **op("An attempt: its questions and saved answers while running, its result after", ATTEMPT, (403, 404)),
        "parameters": _path("attempt_id")}},
    "/api/spmt/attempts/{attempt_id}/answers/{question_id}": {"put": {
        **op("Save one answer; only while the attempt's proctoring stream is live",
             obj({"saved": BOOL, "question_id": INT, "choice": INT}, ["saved"]), (403, 404, 409),
             obj({"choice": INT}, ["choice"])),
        "parameters": [*_path("attempt_id", "question_id"), CSRF]}},
    "/api/spmt/attempts/{attempt_id}/submit": {"post": {
        **op("Submit and score the attempt", ATTEMPT, (403, 404)),
        "parameters": [*_path("attempt_id"), CSRF]}},
    "/api/payments/{order_id}/test-pay": {"post": {
        **op("The test provider's stand-in for a gateway: confirm my order",
             obj({"outcome": STR, "booking": BOOKING}, ["outcome", "booking"]), (403, 404, 409)),
        "parameters": [*_path("order_id"), CSRF]}},
    "/api/payments/webhook": {"post": op(
        "Gateway webhook (Razorpay's shape): HMAC-SHA256 signed, fresh, never replayed",
        obj({"outcome": STR}, ["outcome"]), (401, 404, 409), obj({}), auth=False)},
    "/api/proctor/spmt": {"get": op("Slots, bookings, attempts with flags, and bank sizes (staff)", obj(
        {"slots": {"type": "array"}, "bookings": {"type": "array"}, "attempts": {"type": "array"}, "banks": obj({})},
        ["slots", "bookings", "attempts", "banks"]), (403,))},
    "/api/proctor/spmt/slots": {"post": op(
        "Add a test slot (admins)", SLOT, (403,),
        obj({"module_id": STR, "start": STR, "minutes": INT, "capacity": INT},
            ["module_id", "start", "minutes", "capacity"]), status=201)},
    "/api/proctor/spmt/slots/{slot_id}/cancel": {"post": {
        **op("Cancel a slot: bookers are refunded and told by SMS (admins)",
             obj({"slot_id": INT, "bookings_cancelled": INT}, ["slot_id", "bookings_cancelled"]), (403, 404)),
        "parameters": [*_path("slot_id"), CSRF]}},
    "/api/proctor/spmt/results.csv": {"get": {**op("Scored attempts as CSV (staff)", {}, (403,)),
                                              "responses": CSV_OK}},
    "/api/proctor/credit-adjustments": {"post": op(
        "Add or remove a module's credit with a reason the student sees (admins; audited)",
        obj({"id": INT, "module_id": STR, "seconds": NUM, "reason": STR, "srn": STR},
            ["id", "module_id", "seconds", "reason"]), (403, 404),
        obj({"srn": STR, "module_id": STR, "seconds": NUM, "reason": STR}, ["srn", "module_id", "seconds", "reason"]),
        status=201)},
})


def spec() -> S:
    return {
        "openapi": "3.1.0",
        "info": {"title": "proctor", "version": "0.1.0",
                 "description": "Verified learning time: students stream the webcam; time is credited only "
                                "while the enrolled face is verified. Errors are JSON {error: {code, message}}."},
        "components": {"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "proctor_session"}}},
        "paths": PATHS,
    }


async def openapi_json(request: web.Request) -> web.Response:
    doc = spec()
    if request.app[SETTINGS].payment_provider != "test":  # the route exists only for the test provider
        doc["paths"] = {p: ops for p, ops in doc["paths"].items() if not p.endswith("/test-pay")}
    return web.json_response(doc)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
