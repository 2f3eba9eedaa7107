"""HTTP plumbing shared by every route: JSON errors, body parsing, security headers.

Every error a client can see is JSON `{"error": {"code", "message"}}`; a 5xx is only ever our
own bug, logged with its traceback and shown to the client without details.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("proctor.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "body_too_large", 415: "unsupported_media_type", 422: "unprocessable",
          423: "account_locked", 429: "too_many_requests", 503: "unavailable"}


class ApiError(Exception):
    """An error meant for the client."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.extra = status, code, message, headers, extra


def json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
               **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status,
                             headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.code, exc.message, exc.headers, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return json_error(exc.status, _CODES.get(exc.status, "error"), message or exc.reason,
                          {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")})
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal", "internal server error")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx that says what is wrong with it.

    Only `Content-Type: application/json` is read: a plain HTML form (which can only send
    urlencoded, multipart or text/plain bodies) from another site must not reach a JSON route,
    and a cross-site fetch that sets this type needs a CORS preflight, which we never grant.
    """
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    try:
        raw = await request.read()  # aiohttp raises 413 past client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large",
                       f"request body is larger than {request.app._client_max_size} bytes") from None
    if not raw:
        raise ApiError(400, "bad_json", "request body is empty; expected a JSON object")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "request body must be a JSON object")
    return body


def field(body: dict[str, Any], name: str, kind: type = str, *, required: bool = True, max_len: int = 256
          ) -> Any:
    """One typed field of a JSON body, with a 400 naming it when missing or of the wrong type."""
    if name not in body or body[name] is None:
        if required:
            raise ApiError(400, "missing_field", f"missing field {name!r}")
        return None
    value = body[name]
    if (kind is bool and not isinstance(value, bool)) or (kind is not bool and not isinstance(value, kind)):
        raise ApiError(400, "bad_field", f"field {name!r} must be a {kind.__name__}")
    if isinstance(value, str) and len(value) > max_len:
        raise ApiError(400, "bad_field", f"field {name!r} is longer than {max_len} characters")
    return value


def client_ip(request: web.Request, trusted: list[str]) -> str | None:
    """The client's address: the peer, or behind a trusted reverse proxy the nearest address in
    X-Forwarded-For that is not one of our proxies (anything further left could be forged)."""
    peer = request.remote
    if peer is None or peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return peer


def forwarded_https(request: web.Request, trusted: list[str]) -> bool:
    """True when TLS ends at a trusted proxy that says so, so the session cookie stays Secure."""
    return request.remote in trusted and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def security_headers(https: bool) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if https:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")

    return on_prepare
