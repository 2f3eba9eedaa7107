"""Signing in and recovering access: password, authenticator step, SMS code, activation and reset.
docs/api-accounts.md is the contract.

Requests that name an SRN answer the same way whether or not it exists (202 for "send me a
code"), so the API never confirms which SRNs are registered.
"""

from __future__ import annotations

from aiohttp import web

from proctor.passwords import WeakPassword

from ..http import ApiError, field, read_json
from ..keys import BACKGROUND, LIMITS, LOGIN_ENDS, SERVICES
from ..session_ends import LoginEnd
from .auth import failed, ip_of, login_answer, refuse_during_maintenance, throttled, weak_password


async def send_code(request: web.Request, purpose: str) -> web.Response:
    """202 at once, and the lookup and the SMS after answering: the answer and its timing are the
    same for every SRN. Each request counts against the caller's address (each may send an SMS)."""
    limiter = request.app[LIMITS].code_requests
    key = ip_of(request) or "?"
    retry = limiter.check(key)
    if retry is not None:
        raise ApiError(429, "too_many_requests", "too many codes asked for from your network; wait and retry",
                       {"Retry-After": str(int(retry) + 1)}, retry_after_s=round(retry))
    srn = field(await read_json(request), "srn", max_len=64)
    limiter.failure(key)
    accounts = request.app[SERVICES].accounts
    if not request.app[BACKGROUND].spawn(accounts.request_otp(srn, purpose), name=f"send-code-{purpose}"):
        raise ApiError(503, "unavailable", "too many codes are being sent right now; retry in a minute",
                       {"Retry-After": "60"})
    return web.json_response({"ok": True}, status=202)


async def login(request: web.Request) -> web.Response:
    await refuse_during_maintenance(request)
    await throttled(request)
    body = await read_json(request)
    login_name = field(body, "srn", required=False, max_len=64) or field(body, "username", required=False, max_len=64)
    if not login_name:
        raise ApiError(400, "missing_field", "missing field 'srn' (or 'username' for staff)")
    password = field(body, "password", max_len=1024)
    remember = bool(field(body, "remember", bool, required=False))
    result = await request.app[SERVICES].accounts.login_password(login_name, password, ip=ip_of(request))
    return await login_answer(request, result, remember)


async def totp_login(request: web.Request) -> web.Response:
    await refuse_during_maintenance(request)
    await throttled(request)
    body = await read_json(request)
    challenge, code = field(body, "challenge"), field(body, "code", max_len=64)
    remember = bool(field(body, "remember", bool, required=False))
    result = await request.app[SERVICES].accounts.login_totp(challenge, code, ip=ip_of(request))
    if result.status == "invalid":
        raise failed(request, result, "invalid_code", "the sign-in step has expired; start again")
    return await login_answer(request, result, remember)


async def otp_request(request: web.Request) -> web.Response:
    return await send_code(request, "login")


async def otp_verify(request: web.Request) -> web.Response:
    await refuse_during_maintenance(request)
    await throttled(request)
    body = await read_json(request)
    srn, code = field(body, "srn", max_len=64), field(body, "code", max_len=16)
    remember = bool(field(body, "remember", bool, required=False))
    result = await request.app[SERVICES].accounts.login_otp(srn, code, ip=ip_of(request))
    if result.status == "invalid":
        raise failed(request, result, "invalid_code", "wrong or expired code")
    return await login_answer(request, result, remember)


async def activate_request(request: web.Request) -> web.Response:
    return await send_code(request, "activate")


async def activate(request: web.Request) -> web.Response:
    await refuse_during_maintenance(request)
    await throttled(request)
    body = await read_json(request)
    srn, code = field(body, "srn", max_len=64), field(body, "code", max_len=16)
    new = field(body, "new_password", max_len=1024)
    try:
        result = await request.app[SERVICES].accounts.activate(srn, code, new, ip=ip_of(request))
    except WeakPassword as exc:
        raise weak_password(exc) from None
    if result.status == "invalid":
        raise failed(request, result, "invalid_code", "wrong or expired code")
    return await login_answer(request, result, False)


async def forgot(request: web.Request) -> web.Response:
    return await send_code(request, "reset")


async def reset(request: web.Request) -> web.Response:
    await throttled(request)
    body = await read_json(request)
    srn, code = field(body, "srn", max_len=64), field(body, "code", max_len=16)
    new = field(body, "new_password", max_len=1024)
    try:
        result = await request.app[SERVICES].accounts.reset_password(srn, code, new, ip=ip_of(request))
    except WeakPassword as exc:
        raise weak_password(exc) from None
    if not result.ok or result.user is None:
        raise failed(request, result, "invalid_code", "wrong or expired code")
    # Every login was revoked: end their streams, sockets and views on every node.
    await request.app[LOGIN_ENDS].end(LoginEnd(result.user.id, "password_reset"))
    return web.json_response({"ok": True})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/auth/login", login)
    r.add_post("/api/auth/totp", totp_login)
    r.add_post("/api/auth/otp/request", otp_request)
    r.add_post("/api/auth/otp/verify", otp_verify)
    r.add_post("/api/auth/activate/request", activate_request)
    r.add_post("/api/auth/activate", activate)
    r.add_post("/api/auth/password/forgot", forgot)
    r.add_post("/api/auth/password/reset", reset)
