"""Media nodes in a cluster: dashboard events fan out through Redis pub/sub, and a student has
one live stream across all nodes.

Each node re-publishes its own events on `proctor:events` and republishes other nodes' events
into its local EventBus, so a proctor connected to node A sees students on node B (with A's
event ids, which is what their `?after=` resume uses). A student's live stream is recorded in
`proctor:live:<user_id>`; a node that starts a new stream for that student tells the old node on
`proctor:control` to end its stream as "replaced". An ended login (logout, revocation, password
change or reset) is broadcast on `proctor:control` too, and every node closes what it holds of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from models.aio import cancel_and_wait
from proctor.events import EventBus

log = logging.getLogger("proctor.cluster")
EVENTS_CHANNEL = "proctor:events"
CONTROL_CHANNEL = "proctor:control"
LIVE_TTL_S = 24 * 3600  # a crashed node's claim fades; a live claim is rewritten at every start


class ClusterBridge:
    """Redis pub/sub between media nodes; start()/aclose() own its two tasks."""

    def __init__(self, redis_url: str, node_id: str, bus: EventBus,
                 end_user_stream: Callable[[int, str], Awaitable[None]],
                 end_logins: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> None:
        self.node_id = node_id
        self.bus = bus
        self.redis = aioredis.from_url(redis_url, decode_responses=True, health_check_interval=10)
        self._end_user_stream = end_user_stream
        self._end_logins = end_logins
        self._tasks: list[asyncio.Task[None]] = []
        self.forwarded = 0  # local events sent to the cluster (for tests and metrics)
        self.received = 0  # remote events republished here

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._forward(), name="cluster-forward"),
                       asyncio.create_task(self._listen(), name="cluster-listen")]

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)
        await self.redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def claim_stream(self, user_id: int, session_id: str) -> None:
        """Record that this node streams the student now; end the stream on any other node."""
        key = f"proctor:live:{user_id}"
        value = json.dumps({"node": self.node_id, "session_id": session_id})
        try:
            old = await self.redis.set(key, value, ex=LIVE_TTL_S, get=True)
            if isinstance(old, str | bytes):
                previous = json.loads(old)
                if previous.get("node") != self.node_id:
                    await self.redis.publish(CONTROL_CHANNEL, json.dumps(
                        {"type": "end_user_stream", "node": previous.get("node"), "user_id": user_id,
                         "reason": "replaced"}))
        except (RedisError, OSError, json.JSONDecodeError):
            # The shared ledger already ended the old session's row; only the old node's media lingers.
            log.warning("could not claim the live stream of user %s in Redis", user_id)

    async def broadcast_login_end(self, ended: dict[str, Any]) -> None:
        """Tell every other node that logins ended (they close those logins' streams, sockets, views)."""
        try:
            await self.redis.publish(CONTROL_CHANNEL, json.dumps({"type": "end_logins", "origin": self.node_id,
                                                                  "ended": ended}))
        except (RedisError, OSError):
            # Fail loudly in the log: the revoked cookie is refused everywhere (the database says
            # so), but media on other nodes lives until its next check.
            log.error("Redis unavailable: an ended login was not broadcast to the other nodes")

    async def release_stream(self, user_id: int, session_id: str) -> None:
        key = f"proctor:live:{user_id}"
        with contextlib.suppress(RedisError, OSError):
            current = await self.redis.get(key)
            if current and json.loads(current).get("session_id") == session_id:
                await self.redis.delete(key)

    async def _forward(self) -> None:
        """Local events → the cluster channel (events that came from elsewhere are not sent back)."""
        while True:
            subscription = self.bus.subscribe()
            try:
                async for event in subscription:
                    if event.type == "resync":
                        break  # we fell behind: subscribe again; dashboards resync on their own
                    if event.payload.get("origin") not in (None, self.node_id):
                        continue
                    message = json.dumps({"origin": self.node_id, "type": event.type, "at": event.at,
                                          "payload": event.payload}, default=str)
                    try:
                        await self.redis.publish(EVENTS_CHANNEL, message)
                        self.forwarded += 1
                    except (RedisError, OSError):
                        log.warning("Redis unavailable: a dashboard event was not shared")
            finally:
                await subscription.aclose()

    async def _listen(self) -> None:
        """The cluster channel → the local bus; reconnects with backoff after a Redis restart."""
        delay = 0.5
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(EVENTS_CHANNEL, CONTROL_CHANNEL)
                delay = 0.5
                async for message in pubsub.listen():
                    await self._handle(message)
            except (RedisError, OSError):
                log.warning("lost Redis pub/sub; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _handle(self, message: dict[str, Any]) -> None:
        try:
            data = json.loads(message["data"])
        except (TypeError, ValueError, KeyError):
            return
        if message.get("channel") == CONTROL_CHANNEL:
            if data.get("type") == "end_user_stream" and data.get("node") == self.node_id:
                await self._end_user_stream(int(data["user_id"]), str(data.get("reason", "replaced")))
            elif (data.get("type") == "end_logins" and data.get("origin") != self.node_id
                  and self._end_logins is not None and isinstance(data.get("ended"), dict)):
                try:
                    await self._end_logins(data["ended"])
                except (KeyError, TypeError, ValueError):
                    log.warning("malformed end_logins message ignored")
            return
        if data.get("origin") == self.node_id or not isinstance(data.get("payload"), dict):
            return
        payload = {k: v for k, v in data["payload"].items() if k not in ("id", "type", "at")}
        payload["origin"] = data["origin"]
        self.bus.publish(str(data.get("type")), **payload)
        self.received += 1
