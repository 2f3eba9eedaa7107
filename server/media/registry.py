"""The live streams of this node: at most one per student, and every way a stream can end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .stream import LiveStream


class LiveRegistry:
    """Live streams by student. `on_end` runs after a stream ends (e.g. close proctors' views of it)."""

    def __init__(self, on_end: Callable[[LiveStream], Awaitable[None]] | None = None) -> None:
        self._by_user: dict[int, LiveStream] = {}
        self._closing: dict[str, asyncio.Task[None]] = {}  # session id → its end, started from a callback
        self._on_end = on_end
        self.draining = False  # the node is shutting down: no new streams
        self._left = asyncio.Event()  # set whenever a stream leaves

    def streams(self) -> list[LiveStream]:
        return list(self._by_user.values())

    def get_for_user(self, user_id: int) -> LiveStream | None:
        return self._by_user.get(user_id)

    def get_session(self, session_id: str) -> LiveStream | None:
        return next((s for s in self._by_user.values() if s.session_id == session_id), None)

    def __len__(self) -> int:
        return len(self._by_user)

    async def add(self, stream: LiveStream) -> None:
        """Register a new stream; an older one of the same student ends as 'replaced'."""
        old = self._by_user.get(stream.ctx.user_id)
        self._by_user[stream.ctx.user_id] = stream
        if old is not None:
            await self._finish(old, "replaced")

    async def end(self, stream: LiveStream, reason: str, *, by: int | None = None) -> None:
        """End a stream; `by` is who ended it when not its student (a proctor), for the audit log."""
        if self._by_user.get(stream.ctx.user_id) is stream:
            del self._by_user[stream.ctx.user_id]
            self._left.set()
        await self._finish(stream, reason, by)

    async def drain(self, within_s: float) -> int:
        """Shutdown: refuse new streams, ask every page to reconnect elsewhere, and wait up to
        `within_s` for them to leave. Returns how many are still here (aclose ends those)."""
        self.draining = True
        for stream in list(self._by_user.values()):
            stream.ask_to_reconnect()
        loop = asyncio.get_running_loop()
        until = loop.time() + within_s
        while self._by_user and (left := until - loop.time()) > 0:
            self._left.clear()
            try:
                await asyncio.wait_for(self._left.wait(), left)
            except TimeoutError:
                break
        return len(self._by_user)

    def end_soon(self, stream: LiveStream, reason: str) -> None:
        """End from a callback (a peer connection's state change) that cannot await; once per stream."""
        if stream.session_id not in self._closing:
            task = asyncio.get_running_loop().create_task(self.end(stream, reason), name=f"close-{stream.session_id}")
            self._closing[stream.session_id] = task
            task.add_done_callback(lambda _t: self._closing.pop(stream.session_id, None))

    async def end_user(self, user_id: int, reason: str) -> None:
        stream = self._by_user.get(user_id)
        if stream is not None:
            await self.end(stream, reason)

    async def _finish(self, stream: LiveStream, reason: str, by: int | None = None) -> None:
        await stream.aclose(reason, by=by)
        if self._on_end is not None:
            await self._on_end(stream)

    async def aclose(self, reason: str = "server_shutdown") -> None:
        streams = list(self._by_user.values())
        self._by_user.clear()
        await asyncio.gather(*(self._finish(s, reason) for s in streams), return_exceptions=True)
        await asyncio.gather(*self._closing.values(), return_exceptions=True)
