"""Account routes beyond password login: OTP, activation, reset, password change, sessions, TOTP,
and maintenance notices. docs/api-accounts.md is the contract.

Requests that name an SRN answer the same way whether or not it exists (202 for "send me a
code"), so the API never confirms which SRNs are registered.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from proctor.login_attempts import LoginResult
from proctor.passwords import WeakPassword
from proctor.totp import InvalidTotpCode, TotpError

from .app import LIVE, SERVICES, SETTINGS
from .auth import RAW_TOKEN, WEB_SESSION, current_user, finish_login, refuse_during_maintenance
from .http import ApiError, client_ip, field, read_json


def _ip(request: web.Request) -> str | None:
    return client_ip(request, request.app[SETTINGS].trusted_proxies)


async def _throttled(request: web.Request) -> None:
    """Per-IP limit on failed attempts, against credential stuffing across many accounts."""
    retry = request.app[SERVICES].ip_limiter.check(_ip(request) or "?")
    if retry is not None:
        raise ApiError(429, "too_many_requests", "too many failed attempts from your network; wait and retry",
                       {"Retry-After": str(int(retry) + 1)}, retry_after_s=round(retry))


def failed(request: web.Request, result: LoginResult, code: str = "invalid_credentials",
           message: str = "wrong SRN or password") -> ApiError:
    """The error for a refused secret; counts it against the caller's IP."""
    if result.status == "locked":
        retry = result.retry_after_s or 0.0
        return ApiError(423, "account_locked",
                        f"too many failed attempts; the account is locked for {int(retry // 60) + 1} more minute(s)",
                        {"Retry-After": str(int(retry) + 1)}, retry_after_s=round(retry))
    request.app[SERVICES].ip_limiter.failure(_ip(request) or "?")
    if result.otp is not None and result.otp.value in ("expired", "too_many_attempts", "none"):
        message = {"expired": "the code has expired; ask for a new one",
                   "too_many_attempts": "too many wrong tries for this code; ask for a new one",
                   "none": "no code is waiting; ask for one first"}[result.otp.value]
    return ApiError(401, code, message)


async def login_answer(request: web.Request, result: LoginResult, remember: bool) -> web.Response:
    """Turn a login result into the login response (or the 2FA step)."""
    if result.status == "totp_required":
        return web.json_response({"totp_required": True, "challenge": result.challenge})
    if result.status == "totp_invalid":
        raise failed(request, result, "invalid_code", "wrong authenticator or recovery code")
    if not result.ok or result.user is None:
        raise failed(request, result)
    return await finish_login(request, result.user, remember)


def _weak(exc: WeakPassword) -> ApiError:
    return ApiError(400, "weak_password", exc.message)


async def totp_login(request: web.Request) -> web.Response:
    await refuse_during_maintenance(request)
    await _throttled(request)
    body = await read_json(request)
    challenge, code = field(body, "challenge"), field(body, "code", max_len=64)
    remember = bool(field(body, "remember", bool, required=False))
    result = await request.app[SERVICES].accounts.login_totp(challenge, code, ip=_ip(request))
    if result.status == "invalid":
        raise failed(request, result, "invalid_code", "the sign-in step has expired; start again")
    return await login_answer(request, result, remember)


async def otp_request(request: web.Request) -> web.Response:
    body = await read_json(request)
    await request.app[SERVICES].accounts.request_otp(field(body, "srn", max_len=64), "login")
    return web.json_response({"ok": True}, status=202)


async def otp_verify(request: web.Request) -> web.Response:
    await refuse_during_maintenance(request)
    await _throttled(request)
    body = await read_json(request)
    srn, code = field(body, "srn", max_len=64), field(body, "code", max_len=16)
    remember = bool(field(body, "remember", bool, required=False))
    result = await request.app[SERVICES].accounts.login_otp(srn, code, ip=_ip(request))
    if result.status == "invalid":
        raise failed(request, result, "invalid_code", "wrong or expired code")
    return await login_answer(request, result, remember)


async def activate_request(request: web.Request) -> web.Response:
    body = await read_json(request)
    await request.app[SERVICES].accounts.request_otp(field(body, "srn", max_len=64), "activate")
    return web.json_response({"ok": True}, status=202)


async def activate(request: web.Request) -> web.Response:
    await refuse_during_maintenance(request)
    await _throttled(request)
    body = await read_json(request)
    srn, code = field(body, "srn", max_len=64), field(body, "code", max_len=16)
    new = field(body, "new_password", max_len=1024)
    try:
        result = await request.app[SERVICES].accounts.activate(srn, code, new, ip=_ip(request))
    except WeakPassword as exc:
        raise _weak(exc) from None
    if result.status == "invalid":
        raise failed(request, result, "invalid_code", "wrong or expired code")
    return await login_answer(request, result, False)


async def forgot(request: web.Request) -> web.Response:
    body = await read_json(request)
    await request.app[SERVICES].accounts.request_otp(field(body, "srn", max_len=64), "reset")
    return web.json_response({"ok": True}, status=202)


async def reset(request: web.Request) -> web.Response:
    await _throttled(request)
    body = await read_json(request)
    srn, code = field(body, "srn", max_len=64), field(body, "code", max_len=16)
    new = field(body, "new_password", max_len=1024)
    try:
        result = await request.app[SERVICES].accounts.reset_password(srn, code, new, ip=_ip(request))
    except WeakPassword as exc:
        raise _weak(exc) from None
    if not result.ok or result.user is None:
        raise failed(request, result, "invalid_code", "wrong or expired code")
    await request.app[LIVE].end_user(result.user.id, "password_reset")  # every session was revoked
    return web.json_response({"ok": True})


async def change(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_json(request)
    current, new = field(body, "current_password", max_len=1024), field(body, "new_password", max_len=1024)
    try:
        result = await request.app[SERVICES].accounts.change_password(
            user.id, current, new, keep_session=request[RAW_TOKEN], ip=_ip(request))
    except WeakPassword as exc:
        raise _weak(exc) from None
    if not result.ok:
        raise failed(request, result, message="the current password is wrong")
    return web.json_response({"ok": True})


async def sessions(request: web.Request) -> web.Response:
    user = current_user(request)
    mine = request[WEB_SESSION].id
    rows = await request.app[SERVICES].accounts.web_sessions.list_for_user(user.id)
    return web.json_response({"sessions": [
        {"id": s.public_id, "created_at": s.created_at, "expires_at": s.hard_expiry, "user_agent": s.user_agent,
         "ip": s.ip, "remember": s.remember, "current": s.id == mine} for s in rows]})


async def revoke(request: web.Request) -> web.Response:
    user = current_user(request)
    public_id = request.match_info["public_id"]
    web_sessions = request.app[SERVICES].accounts.web_sessions
    target = next((s for s in await web_sessions.list_for_user(user.id) if s.public_id == public_id), None)
    if target is None or not await web_sessions.revoke_by_public_id(user.id, public_id):
        raise ApiError(404, "not_found", "no such session")
    await request.app[LIVE].end_web_session(target.id, "session_revoked")  # its stream ends at once
    return web.json_response({"ok": True})


async def totp_setup(request: web.Request) -> web.Response:
    user = current_user(request)
    setup = await request.app[SERVICES].accounts.totp.begin_setup(user.id)
    return web.json_response({"secret": setup.secret, "otpauth_uri": setup.otpauth_uri,
                              "qr": setup.qr_svg_data_url})


async def totp_enable(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_json(request)
    try:
        codes = await request.app[SERVICES].accounts.totp.enable(user.id, field(body, "code", max_len=16))
    except InvalidTotpCode as exc:
        raise ApiError(401, "invalid_code", f"{exc}; check the time on your phone") from None
    except TotpError as exc:
        raise ApiError(409, "totp_state", str(exc)) from None
    return web.json_response({"recovery_codes": codes})


async def totp_disable(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_json(request)
    result = await request.app[SERVICES].accounts.disable_totp(user.id, field(body, "password", max_len=1024),
                                                               ip=_ip(request))
    if not result.ok:
        raise failed(request, result, message="the password is wrong")
    return web.json_response({"ok": True})


def _window(w: Any) -> dict[str, Any]:
    return {"start": w.start_at, "end": w.end_at, "message": w.message}


async def maintenance(request: web.Request) -> web.Response:
    m = request.app[SERVICES].maintenance
    active = await m.active()
    return web.json_response({"active": _window(active) if active else None,
                              "upcoming": [_window(w) for w in await m.upcoming()]})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/auth/totp", totp_login)
    r.add_post("/api/auth/otp/request", otp_request)
    r.add_post("/api/auth/otp/verify", otp_verify)
    r.add_post("/api/auth/activate/request", activate_request)
    r.add_post("/api/auth/activate", activate)
    r.add_post("/api/auth/password/forgot", forgot)
    r.add_post("/api/auth/password/reset", reset)
    r.add_post("/api/auth/password/change", change)
    r.add_get("/api/auth/sessions", sessions)
    r.add_delete("/api/auth/sessions/{public_id}", revoke)
    r.add_post("/api/auth/totp/setup", totp_setup)
    r.add_post("/api/auth/totp/enable", totp_enable)
    r.add_post("/api/auth/totp/disable", totp_disable)
    r.add_get("/api/maintenance", maintenance)


