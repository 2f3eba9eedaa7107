"""Login, logout, the session cookie and CSRF.

The cookie carries a random token whose sha256 is the server-side session id; it is HttpOnly,
SameSite=Strict and Secure under https, and a login always issues a new one (rotation), revoking
the one it replaces. Every state-changing API request from a logged-in browser must carry
`X-CSRF-Token`, which the page only learns from a JSON response.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from proctor.accounts import REMEMBER_SECONDS, User, WebSession
from proctor.students import STAFF_ROLES

from .http import ApiError, Handler, client_ip, field, forwarded_https, read_json

COOKIE = "proctor_session"
USER = web.RequestKey("user", User)
WEB_SESSION = web.RequestKey("web_session", WebSession)
RAW_TOKEN = web.RequestKey("raw_token", str)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Pre-login steps: no session exists yet to hold a token. SameSite=Strict still guards the cookie.
CSRF_EXEMPT = frozenset({"/api/auth/login", "/api/auth/totp", "/api/auth/otp/request", "/api/auth/otp/verify",
                         "/api/auth/activate/request", "/api/auth/activate", "/api/auth/password/forgot",
                         "/api/auth/password/reset"})


def _services(request: web.Request) -> Any:
    from .app import SERVICES

    return request.app[SERVICES]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(COOKIE)
    if token and request.path.startswith("/api/"):
        resolved = await _services(request).accounts.resolve_session(token)
        if resolved is not None:
            request[USER], request[WEB_SESSION] = resolved
            request[RAW_TOKEN] = token
    if (request.method in STATE_CHANGING and request.path.startswith("/api/")
            and request.path not in CSRF_EXEMPT and WEB_SESSION in request):
        if not request[WEB_SESSION].check_csrf(request.headers.get("X-CSRF-Token")):
            raise ApiError(403, "csrf", "missing or invalid X-CSRF-Token header")
    return await handler(request)


def _client(request: web.Request) -> str | None:
    from .app import SETTINGS

    return client_ip(request, request.app[SETTINGS].trusted_proxies)


def current_user(request: web.Request, role: str | None = None) -> User:
    """The logged-in user, or 401; with `role`, 403 for anyone else."""
    user: User | None = request.get(USER)
    if user is None:
        raise ApiError(401, "unauthorized", "log in first")
    if role is not None and user.role != role:
        raise ApiError(403, "forbidden", f"this needs the {role} role")
    return user


def user_json(user: User) -> dict[str, Any]:
    # `staff` lets the pages decide who sees the proctor dashboard without a list of roles of their own.
    return {"srn": user.srn, "username": user.username, "name": user.name, "role": user.role,
            "staff": user.role in STAFF_ROLES}


async def refuse_during_maintenance(request: web.Request) -> None:
    """Logins and new streams wait out a maintenance window (503 with Retry-After)."""
    window = await _services(request).maintenance.active()
    if window is not None:
        retry = max(1, int(window.end_at - _services(request).clock.now()))
        raise ApiError(503, "maintenance", window.message, {"Retry-After": str(retry)},
                       until=window.end_at, retry_after_s=retry)


async def login(request: web.Request) -> web.Response:
    from .routes_accounts import _throttled, login_answer

    await refuse_during_maintenance(request)
    await _throttled(request)
    body = await read_json(request)
    login_name = field(body, "srn", required=False, max_len=64) or field(body, "username", required=False, max_len=64)
    if not login_name:
        raise ApiError(400, "missing_field", "missing field 'srn' (or 'username' for staff)")
    password = field(body, "password", max_len=1024)
    remember = bool(field(body, "remember", bool, required=False))
    result = await _services(request).accounts.login_password(login_name, password, ip=_client(request))
    return await login_answer(request, result, remember)


async def finish_login(request: web.Request, user: User, remember: bool) -> web.Response:
    """Issue a fresh session (rotation: never keep a pre-login session id) and answer like login."""
    services = _services(request)
    old = request.get(RAW_TOKEN)
    if old:
        await services.accounts.revoke_session(old)
    raw, session = await services.accounts.create_web_session(
        user.id, remember, request.headers.get("User-Agent", "")[:256], _client(request))
    response = web.json_response({"user": user_json(user), "csrf_token": session.csrf_token,
                                  "enrollment": user.enrollment_status})
    _set_cookie(request, response, raw, REMEMBER_SECONDS if remember else None)
    return response


def _set_cookie(request: web.Request, response: web.Response, raw: str, max_age: float | None) -> None:
    from .app import SETTINGS

    settings = request.app[SETTINGS]
    secure = settings.https or request.secure or forwarded_https(request, settings.trusted_proxies)
    response.set_cookie(COOKIE, raw, max_age=None if max_age is None else int(max_age), httponly=True,
                        samesite="Strict", path="/", secure=secure)


async def logout(request: web.Request) -> web.Response:
    from .app import LIVE

    user = current_user(request)
    await request.app[LIVE].end_user(user.id, "logout")
    await _services(request).accounts.revoke_session(request[RAW_TOKEN])
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    fresh = await _services(request).students.get(user.id) or user  # enrollment may have changed
    return web.json_response({"user": user_json(fresh), "csrf_token": request[WEB_SESSION].csrf_token,
                              "enrollment": fresh.enrollment_status})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_get("/api/me", me)
