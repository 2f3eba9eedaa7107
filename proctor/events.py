"""The proctors' event feed: in memory, per node, transport-free.

`EventBus.publish` numbers events 1, 2, 3, … and keeps the newest `buffer` of them, so a client that
reconnects with the last id it saw (`subscribe(after=...)`) first gets everything it missed, then the
live events. Each subscription has its own bounded queue: `publish` never awaits and never waits
for a reader; a subscription whose queue is full is dropped from the bus and its next item is a
`resync` event {reason: 'overflow'}.

`resync` is always a subscription's last item (the server closes the socket after sending it). It is
out of band: id 0, never buffered, never published. Reasons: 'overflow' (the client fell behind),
'too_old' (`after` is older than the buffer keeps), 'unknown_id' (`after` is newer than anything
published here, e.g. this node restarted).

Everything runs on the event loop's thread: `publish` is synchronous but not thread-safe.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from proctor.clock import Clock, SystemClock

RESYNC = "resync"
CREDITED = "credited"
CREDITED_INTERVAL_S = 5.0
_RESERVED_KEYS = frozenset({"id", "type", "at"})


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    at: float
    payload: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """`{"id", "type", "at", **payload}`."""
        return {**self.payload, "id": self.id, "type": self.type, "at": self.at}


class Subscription:
    """An async iterator of events; `aclose()` (or leaving `async with`) detaches it from the bus."""

    def __init__(self, bus: EventBus | None, backlog: Iterable[Event], queue_size: int) -> None:
        self._bus = bus
        self._backlog: deque[Event] = deque(backlog)
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=queue_size)  # None: closed
        self._done = False
        self.overflowed = False

    @property
    def closed(self) -> bool:
        """True once the subscription gets no more events from the bus."""
        return self._bus is None

    def _deliver(self, event: Event) -> bool:
        """Called by publish; False when this subscription just overflowed (and is to be dropped)."""
        try:
            self._queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            self.overflowed = True
            self._finish(Event(0, RESYNC, event.at, {"reason": "overflow"}))
            return False

    def _finish(self, last: Event | None) -> None:
        """Stop receiving; what the reader gets next is `last` (then the end), or just the end."""
        self._bus = None
        self._backlog.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(last)
        if last is not None:
            self._queue.put_nowait(None)  # cannot overflow: queue_size >= 2

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        event = self._backlog.popleft() if self._backlog else await self._queue.get()
        if event is None:
            self._done = True
            raise StopAsyncIteration
        if event.type == RESYNC:
            # Always the final item, also when it came from the backlog (a subscription that
            # started out of range never joined the bus).
            self._done = True
            self._bus = None
        return event

    async def aclose(self) -> None:
        bus = self._bus
        if bus is not None:
            bus._drop(self)
        if not self._done:
            self._done = True
            if self._queue.empty():
                self._queue.put_nowait(None)  # wakes a reader blocked in __anext__

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class EventBus:
    def __init__(
        self,
        buffer: int = 10_000,
        queue_size: int = 256,
        clock: Clock | None = None,
        *,
        credited_interval_s: float = CREDITED_INTERVAL_S,
    ) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be >= 1, got {buffer}")
        if queue_size < 2:
            raise ValueError(f"queue_size must be >= 2, got {queue_size}")
        self._clock: Clock = clock or SystemClock()
        self._buffer: deque[Event] = deque(maxlen=buffer)
        self._queue_size = queue_size
        self._subs: dict[int, Subscription] = {}  # by id(), in subscription order
        self._last_id = 0
        self._credited_interval_s = float(credited_interval_s)
        self._last_credited: dict[str, float] = {}

    @property
    def last_id(self) -> int:
        """Id of the newest published event (0 before the first)."""
        return self._last_id

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def publish(self, type: str, **payload: Any) -> Event:
        """Number, buffer and fan out one event; never awaits, never waits for a subscriber."""
        if type == RESYNC:
            raise ValueError("'resync' is sent by the bus itself, not published")
        clash = _RESERVED_KEYS & payload.keys()
        if clash:
            raise ValueError(f"payload keys {sorted(clash)} are reserved")
        self._last_id += 1
        event = Event(self._last_id, type, self._clock.now(), dict(payload))
        self._buffer.append(event)
        overflowed = [key for key, sub in self._subs.items() if not sub._deliver(event)]
        for key in overflowed:
            del self._subs[key]
        return event

    def publish_credited(self, session_id: str, **payload: Any) -> Event | None:
        """A 'credited' event, at most one per `credited_interval_s` (clock) per session: one that
        comes sooner after the last one published for the session is dropped (None)."""
        now = self._clock.now()
        last = self._last_credited.get(session_id)
        if last is not None and last <= now < last + self._credited_interval_s:
            return None
        self._last_credited[session_id] = now
        return self.publish(CREDITED, session_id=session_id, **payload)

    def forget_session(self, session_id: str) -> None:
        """Drop a session's rate-limit state (call when it ends)."""
        self._last_credited.pop(session_id, None)

    def subscribe(self, after: int | None = None) -> Subscription:
        """Live events from now on; with `after`, first every buffered event with a larger id.

        If events after `after` are no longer buffered (or `after` is newer than anything published
        here), the subscription yields a single `resync` event and ends.
        """
        if after is not None:
            oldest = self._buffer[0].id if self._buffer else self._last_id + 1
            reason = None
            if after > self._last_id or after < 0:
                reason = "unknown_id"
            elif after + 1 < oldest:
                reason = "too_old"
            if reason is not None:
                resync = Event(0, RESYNC, self._clock.now(), {"reason": reason})
                return Subscription(None, [resync], self._queue_size)
            # Ids are contiguous, so the events after `after` are the buffer's tail.
            backlog = list(itertools.islice(self._buffer, after + 1 - oldest, None)) if after < self._last_id else []
        else:
            backlog = []
        sub = Subscription(self, backlog, self._queue_size)
        self._subs[id(sub)] = sub
        return sub

    def _drop(self, sub: Subscription) -> None:
        self._subs.pop(id(sub), None)
        sub._bus = None
