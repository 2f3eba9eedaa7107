"""Ending a login everywhere: logout, revocation, a password change or reset.

A web session (one login, one cookie) may have a live stream, a proctor's event socket and live
views open, on any node of the cluster. When it ends, every one of them must close, not only those
on the node that took the request: the end is applied here and broadcast on the Redis control
channel, and every other node applies it to what it holds (`ClusterBridge`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from .media.live_view import Viewers
from .media.registry import LiveRegistry

log = logging.getLogger("proctor.session_ends")

# WebSocket close code for "your login ended" (4000–4999 are the application's).
SIGNED_OUT = 4001


@dataclass(frozen=True)
class LoginEnd:
    """Which logins of a user ended: one (`web_session_id`), or all of them but `keep`."""

    user_id: int
    reason: str  # logout | session_revoked | password_changed | password_reset
    web_session_id: str | None = None  # None: every login of the user…
    keep: str | None = None  # …except this one (the login that changed the password)

    def matches(self, user_id: int, web_session_id: str) -> bool:
        if user_id != self.user_id:
            return False
        if self.web_session_id is not None:
            return web_session_id == self.web_session_id
        return web_session_id != self.keep

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoginEnd:
        def opt(name: str) -> str | None:
            value = data.get(name)
            return None if value is None else str(value)

        return cls(int(data["user_id"]), str(data["reason"]), opt("web_session_id"), opt("keep"))


class LoginEnds:
    """What this node holds per login (streams via the registry, sockets and views here), and how to
    close it; `end` also tells the other nodes through `broadcast`."""

    def __init__(self, registry: LiveRegistry, viewers: Viewers) -> None:
        self.registry = registry
        self.viewers = viewers
        self._sockets: dict[web.WebSocketResponse, tuple[int, str]] = {}
        self.broadcast: Any = None  # async (LoginEnd) -> None, set when the node is in a cluster

    def track_socket(self, ws: web.WebSocketResponse, user_id: int, web_session_id: str) -> None:
        self._sockets[ws] = (user_id, web_session_id)

    def forget_socket(self, ws: web.WebSocketResponse) -> None:
        self._sockets.pop(ws, None)

    async def end(self, ended: LoginEnd) -> None:
        """Close everything of those logins here, then on every other node."""
        await self.apply(ended)
        if self.broadcast is not None:
            await self.broadcast(ended)

    async def apply(self, ended: LoginEnd) -> None:
        """Close what this node holds of the ended logins (also run for other nodes' broadcasts)."""
        for stream in self.registry.streams():
            if ended.matches(stream.ctx.user_id, stream.ctx.web_session_id):
                await self.registry.end(stream, ended.reason)
        await self.viewers.close_matching(lambda proctor_id, login: ended.matches(proctor_id, login))
        for ws, (user_id, login) in list(self._sockets.items()):
            if ended.matches(user_id, login):
                self._sockets.pop(ws, None)
                await ws.close(code=SIGNED_OUT, message=ended.reason.encode())
