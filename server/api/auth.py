"""Who is asking: the session cookie, CSRF, roles, and the guards every login step shares
(per-IP throttling, lockout answers, maintenance windows).

The cookie carries a random token whose sha256 is the server-side session id; it is HttpOnly,
SameSite=Strict and Secure under https, and a login always issues a new one (rotation), revoking
the one it replaces. Every state-changing API request from a logged-in browser must carry
`X-CSRF-Token`, which the page only learns from a JSON response.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from proctor.login_attempts import LoginResult
from proctor.passwords import WeakPassword
from proctor.users import Role, User, user_json
from proctor.web_sessions import REMEMBER_SECONDS, WebSession

from ..http import ApiError, Handler, client_ip, forwarded_https
from ..keys import SERVICES, SETTINGS

COOKIE = "proctor_session"
USER = web.RequestKey("user", User)
WEB_SESSION = web.RequestKey("web_session", WebSession)
RAW_TOKEN = web.RequestKey("raw_token", str)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Pre-login steps: no session exists yet to hold a token. SameSite=Strict still guards the cookie.
CSRF_EXEMPT = frozenset({"/api/auth/login", "/api/auth/totp", "/api/auth/otp/request", "/api/auth/otp/verify",
                         "/api/auth/activate/request", "/api/auth/activate", "/api/auth/password/forgot",
                         "/api/auth/password/reset"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(COOKIE)
    if token and request.path.startswith("/api/"):
        resolved = await request.app[SERVICES].accounts.web_sessions.resolve(token)
        if resolved is not None:
            request[USER], request[WEB_SESSION] = resolved
            request[RAW_TOKEN] = token
    if (request.method in STATE_CHANGING and request.path.startswith("/api/")
            and request.path not in CSRF_EXEMPT and WEB_SESSION in request):
        if not request[WEB_SESSION].check_csrf(request.headers.get("X-CSRF-Token")):
            raise ApiError(403, "csrf", "missing or invalid X-CSRF-Token header")
    return await handler(request)


def check_origin(request: web.Request) -> None:
    """403 unless a browser's `Origin` is this site (or one in `allowed_origins`).

    A WebSocket handshake carries cookies but no CSRF header and is not bound by CORS, so any page
    could open one with the proctor's cookie (cross-site WebSocket hijacking). Browsers always send
    `Origin` on it; clients that send none are not browsers and carry no ambient cookie risk.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if urlsplit(origin).netloc.lower() == request.host.lower() or origin in request.app[SETTINGS].allowed_origins:
        return
    raise ApiError(403, "bad_origin", "this socket only accepts the site's own pages")


def ip_of(request: web.Request) -> str | None:
    """The client's address, believing X-Forwarded-For only from trusted proxies."""
    return client_ip(request, request.app[SETTINGS].trusted_proxies)


def current_user(request: web.Request, role: Role | None = None) -> User:
    """The logged-in user, or 401; with `role`, 403 for anyone else."""
    user: User | None = request.get(USER)
    if user is None:
        raise ApiError(401, "unauthorized", "log in first")
    if role is not None and user.role != role:
        raise ApiError(403, "forbidden", f"this needs the {role} role")
    return user


async def refuse_during_maintenance(request: web.Request) -> None:
    """Logins and new streams wait out a maintenance window (503 with Retry-After)."""
    services = request.app[SERVICES]
    window = await services.maintenance.active()
    if window is not None:
        retry = max(1, int(window.end_at - services.clock.now()))
        raise ApiError(503, "maintenance", window.message, {"Retry-After": str(retry)},
                       until=window.end_at, retry_after_s=retry)


async def throttled(request: web.Request) -> None:
    """Per-IP limit on failed attempts, against credential stuffing across many accounts."""
    retry = request.app[SERVICES].ip_limiter.check(ip_of(request) or "?")
    if retry is not None:
        raise ApiError(429, "too_many_requests", "too many failed attempts from your network; wait and retry",
                       {"Retry-After": str(int(retry) + 1)}, retry_after_s=round(retry))


def failed(request: web.Request, result: LoginResult, code: str = "invalid_credentials",
           message: str = "wrong SRN or password") -> ApiError:
    """The error for a refused secret; counts it against the caller's IP."""
    # Every refusal counts against the address, a locked login's too: otherwise a locked SRN is
    # free to hammer, and never reaches 429.
    request.app[SERVICES].ip_limiter.failure(ip_of(request) or "?")
    if result.status == "locked":
        retry = result.retry_after_s or 0.0
        return ApiError(423, "account_locked",
                        f"too many failed attempts; the account is locked for {int(retry // 60) + 1} more minute(s)",
                        {"Retry-After": str(int(retry) + 1)}, retry_after_s=round(retry))
    # One answer for every refused secret: why a code failed (none waiting, expired, used up)
    # would tell a stranger that the SRN exists. The reason is in the audit log.
    return ApiError(401, code, message)


def weak_password(exc: WeakPassword) -> ApiError:
    return ApiError(400, "weak_password", exc.message)


async def login_answer(request: web.Request, result: LoginResult, remember: bool) -> web.Response:
    """Turn a login result into the login response (or the 2FA step)."""
    if result.status == "totp_required":
        return web.json_response({"totp_required": True, "challenge": result.challenge})
    if result.status == "totp_invalid":
        raise failed(request, result, "invalid_code", "wrong authenticator or recovery code")
    if not result.ok or result.user is None:
        raise failed(request, result)
    return await finish_login(request, result.user, remember)


async def finish_login(request: web.Request, user: User, remember: bool) -> web.Response:
    """Issue a fresh session (rotation: never keep a pre-login session id) and answer like login."""
    services = request.app[SERVICES]
    old = request.get(RAW_TOKEN)
    if old:
        await services.accounts.web_sessions.revoke(old)
    raw, session = await services.accounts.web_sessions.create(
        user.id, remember, request.headers.get("User-Agent", "")[:256], ip_of(request))
    response = web.json_response({"user": user_json(user), "csrf_token": session.csrf_token,
                                  "enrollment": user.enrollment_status})
    _set_cookie(request, response, raw, REMEMBER_SECONDS if remember else None)
    return response


def _set_cookie(request: web.Request, response: web.Response, raw: str, max_age: float | None) -> None:
    settings = request.app[SETTINGS]
    secure = settings.https or request.secure or forwarded_https(request, settings.trusted_proxies)
    response.set_cookie(COOKIE, raw, max_age=None if max_age is None else int(max_age), httponly=True,
                        samesite="Strict", path="/", secure=secure)
