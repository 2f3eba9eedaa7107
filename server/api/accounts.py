"""A signed-in user's own account: who am I, sign out, password change, signed-in devices, the
authenticator app, and maintenance notices. docs/api-accounts.md is the contract.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from proctor.passwords import WeakPassword
from proctor.totp import InvalidTotpCode, TotpAlreadyEnabled, TotpError, TotpNotPending
from proctor.users import user_json

from ..http import ApiError, field, read_json
from ..keys import LOGIN_ENDS, SERVICES
from ..session_ends import LoginEnd
from .auth import COOKIE, RAW_TOKEN, WEB_SESSION, current_user, failed, ip_of, weak_password


async def logout(request: web.Request) -> web.Response:
    user = current_user(request)
    await request.app[SERVICES].accounts.web_sessions.revoke(request[RAW_TOKEN])
    # Everything this login holds closes, on every node: its stream, event sockets, live views.
    await request.app[LOGIN_ENDS].end(LoginEnd(user.id, "logout", web_session_id=request[WEB_SESSION].id))
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    fresh = await request.app[SERVICES].students.get(user.id) or user  # enrollment may have changed
    return web.json_response({"user": user_json(fresh), "csrf_token": request[WEB_SESSION].csrf_token,
                              "enrollment": fresh.enrollment_status})


async def change(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_json(request)
    current, new = field(body, "current_password", max_len=1024), field(body, "new_password", max_len=1024)
    try:
        result = await request.app[SERVICES].accounts.change_password(
            user.id, current, new, keep_session=request[RAW_TOKEN], ip=ip_of(request))
    except WeakPassword as exc:
        raise weak_password(exc) from None
    if not result.ok:
        raise failed(request, result, message="the current password is wrong")
    # The other logins were revoked with the change: end their streams, sockets and views too.
    await request.app[LOGIN_ENDS].end(LoginEnd(user.id, "password_changed", keep=request[WEB_SESSION].id))
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
    # Its stream, event sockets and live views end at once, on whichever node holds them.
    await request.app[LOGIN_ENDS].end(LoginEnd(user.id, "session_revoked", web_session_id=target.id))
    return web.json_response({"ok": True})


def totp_conflict(exc: TotpError) -> ApiError:
    """Every refused TOTP step is a 409 naming what was refused (a wrong code, or the wrong state)."""
    code = {InvalidTotpCode: "invalid_code", TotpAlreadyEnabled: "totp_already_enabled",
            TotpNotPending: "totp_not_pending"}.get(type(exc), "totp_state")
    return ApiError(409, code, str(exc) + ("; check the time on your phone" if code == "invalid_code" else ""))


async def totp_setup(request: web.Request) -> web.Response:
    """A new secret, shown only to someone who types the password again: a borrowed or stolen
    session must not be able to bind its own authenticator to the account."""
    user = current_user(request)
    body = await read_json(request)
    accounts = request.app[SERVICES].accounts
    check = await accounts.verify_password(user.id, field(body, "password", max_len=1024), ip=ip_of(request))
    if not check.ok:
        raise failed(request, check, message="the password is wrong")
    try:
        setup = await accounts.totp.begin_setup(user.id)
    except TotpError as exc:
        raise totp_conflict(exc) from None
    return web.json_response({"secret": setup.secret, "otpauth_uri": setup.otpauth_uri,
                              "qr": setup.qr_svg_data_url})


async def totp_enable(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_json(request)
    try:
        codes = await request.app[SERVICES].accounts.totp.enable(user.id, field(body, "code", max_len=16))
    except TotpError as exc:
        raise totp_conflict(exc) from None
    return web.json_response({"recovery_codes": codes})


async def totp_disable(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_json(request)
    result = await request.app[SERVICES].accounts.disable_totp(user.id, field(body, "password", max_len=1024),
                                                               ip=ip_of(request))
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
    r.add_post("/api/auth/logout", logout)
    r.add_get("/api/me", me)
    r.add_post("/api/auth/password/change", change)
    r.add_get("/api/auth/sessions", sessions)
    r.add_delete("/api/auth/sessions/{public_id}", revoke)
    r.add_post("/api/auth/totp/setup", totp_setup)
    r.add_post("/api/auth/totp/enable", totp_enable)
    r.add_post("/api/auth/totp/disable", totp_disable)
    r.add_get("/api/maintenance", maintenance)
