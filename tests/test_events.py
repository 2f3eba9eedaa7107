"""The in-memory event feed: numbering, replay, resync, bounded queues, credited rate limit."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from proctor.clock import FakeClock
from proctor.events import RESYNC, Event, EventBus, Subscription


async def _drain(sub: Subscription) -> list[Event]:
    """Everything the subscription yields until it ends (it must end)."""
    return [e async for e in sub]


async def _take(sub: Subscription, n: int) -> list[Event]:
    return [await anext(sub) for _ in range(n)]


def test_ids_payload_and_json() -> None:
    clock = FakeClock(100.0)
    bus = EventBus(clock=clock)
    assert bus.last_id == 0
    a = bus.publish("session_started", session_id="s1", student={"id": 1})
    clock.advance(1.5)
    b = bus.publish("state_changed", session_id="s1", state="verified")
    assert (a.id, b.id, bus.last_id) == (1, 2, 2)
    assert (b.type, b.at, b.payload) == ("state_changed", 101.5, {"session_id": "s1", "state": "verified"})
    assert b.to_json() == {"id": 2, "type": "state_changed", "at": 101.5, "session_id": "s1", "state": "verified"}
    for key in ("id", "at"):
        with pytest.raises(ValueError, match="reserved"):
            bus.publish("x", **{key: 1})
    with pytest.raises(ValueError, match="resync"):
        bus.publish(RESYNC, reason="no")
    assert bus.last_id == 2  # refused events take no id
    with pytest.raises(ValueError):
        EventBus(buffer=0)
    with pytest.raises(ValueError):
        EventBus(queue_size=1)


async def test_live_subscription_sees_events_in_order() -> None:
    bus = EventBus(clock=FakeClock())
    bus.publish("before")  # not replayed without `after`
    async with bus.subscribe() as sub:
        for i in range(5):
            bus.publish("n", i=i)
        got = await _take(sub, 5)
    assert [(e.id, e.payload["i"]) for e in got] == [(2, 0), (3, 1), (4, 2), (5, 3), (6, 4)]
    assert sub.closed and bus.subscriber_count == 0
    bus.publish("after_close")  # a closed subscription gets nothing more
    assert await _drain(sub) == []


async def test_replay_after_then_live() -> None:
    bus = EventBus(clock=FakeClock())
    for i in range(10):
        bus.publish("n", i=i)
    sub = bus.subscribe(after=7)
    bus.publish("n", i=10)  # published between subscribe and the first read
    got = await _take(sub, 3)
    assert [e.id for e in got] == [8, 9, 10, 11][:3]
    bus.publish("n", i=11)
    assert [e.id for e in await _take(sub, 2)] == [11, 12]
    await sub.aclose()
    # `after` equal to the newest id: nothing to replay, live from there.
    up_to_date = bus.subscribe(after=bus.last_id)
    bus.publish("n", i=12)
    assert (await anext(up_to_date)).id == 13
    await up_to_date.aclose()
    # after=0 on a bus that still buffers id 1: everything.
    everything = bus.subscribe(after=0)
    assert [e.id for e in await _take(everything, 13)] == list(range(1, 14))
    await everything.aclose()


async def test_resync_when_after_is_out_of_range() -> None:
    clock = FakeClock(50.0)
    bus = EventBus(buffer=5, clock=clock)
    for i in range(10):
        bus.publish("n", i=i)  # ids 6..10 are buffered
    ok = bus.subscribe(after=5)
    assert [e.id for e in await _take(ok, 5)] == [6, 7, 8, 9, 10]
    await ok.aclose()
    for after, reason in ((4, "too_old"), (0, "too_old"), (11, "unknown_id"), (-1, "unknown_id")):
        sub = bus.subscribe(after=after)
        events = await _drain(sub)  # a single resync, then the end
        assert [(e.id, e.type, e.payload) for e in events] == [(0, RESYNC, {"reason": reason})]
        assert events[0].to_json() == {"id": 0, "type": "resync", "at": 50.0, "reason": reason}
    assert bus.subscriber_count == 0  # out-of-range subscriptions never joined
    bus.publish("n", i=10)
    assert bus.last_id == 11  # resync events take no id


async def test_overflow_drops_the_slow_subscriber_only() -> None:
    bus = EventBus(queue_size=4, clock=FakeClock())
    slow = bus.subscribe()
    fast = bus.subscribe()
    received: list[int] = []
    for i in range(20):
        event = bus.publish("n", i=i)  # synchronous: a full queue cannot make it wait
        assert event.id == i + 1
        received.append((await anext(fast)).id)
        if i == 3:
            assert not slow.overflowed and bus.subscriber_count == 2
        if i == 4:  # the fifth event did not fit in slow's queue of 4
            assert slow.overflowed and slow.closed and bus.subscriber_count == 1
    assert received == list(range(1, 21))
    # The slow client's next item is the resync (its stale queue is discarded), and then the end.
    events = await _drain(slow)
    assert [(e.id, e.type, e.payload) for e in events] == [(0, RESYNC, {"reason": "overflow"})]
    assert not fast.overflowed
    await fast.aclose()
    await slow.aclose()  # closing an overflowed subscription is harmless


async def test_publish_never_waits_for_readers() -> None:
    assert not inspect.iscoroutinefunction(EventBus.publish)
    assert not inspect.iscoroutinefunction(EventBus.publish_credited)
    bus = EventBus(buffer=100, queue_size=8, clock=FakeClock())
    stuck = [bus.subscribe() for _ in range(50)]  # nobody ever reads these
    for i in range(10_000):
        bus.publish("n", i=i)
    assert bus.last_id == 10_000 and bus.subscriber_count == 0
    assert all(s.overflowed for s in stuck)
    # The buffer keeps only the newest 100: a reconnect right after the tail is replayed.
    late = bus.subscribe(after=9_950)
    assert [e.id for e in await _take(late, 50)] == list(range(9_951, 10_001))
    await late.aclose()


async def test_overflow_during_replay() -> None:
    bus = EventBus(queue_size=2, clock=FakeClock())
    for i in range(10):
        bus.publish("n", i=i)
    sub = bus.subscribe(after=0)  # the replay itself does not count against the queue
    assert [e.id for e in await _take(sub, 4)] == [1, 2, 3, 4]
    for i in range(3):
        bus.publish("n", i=10 + i)  # the third live event overflows the queue of 2
    assert sub.overflowed
    assert [(e.type, e.payload) for e in await _drain(sub)] == [(RESYNC, {"reason": "overflow"})]


async def test_aclose_wakes_a_waiting_reader() -> None:
    bus = EventBus(clock=FakeClock())
    sub = bus.subscribe()
    reader = asyncio.create_task(_drain(sub))
    await asyncio.sleep(0)
    bus.publish("n", i=1)
    await asyncio.sleep(0)
    await sub.aclose()
    got = await asyncio.wait_for(reader, 1)
    assert [e.id for e in got] == [1] and bus.subscriber_count == 0


def test_credited_is_rate_limited_per_session() -> None:
    clock = FakeClock(1000.0)
    bus = EventBus(clock=clock)
    first = bus.publish_credited("s1", credited_seconds=3.0)
    assert first is not None and first.type == "credited"
    assert first.payload == {"session_id": "s1", "credited_seconds": 3.0}
    assert bus.publish_credited("s2", credited_seconds=1.0) is not None  # another session: its own limit
    clock.advance(4.9)
    assert bus.publish_credited("s1", credited_seconds=6.0) is None
    clock.advance(0.1)  # 5 s after the last one published for s1
    again = bus.publish_credited("s1", credited_seconds=9.0)
    assert again is not None and again.payload["credited_seconds"] == 9.0
    clock.advance(1)
    assert bus.publish_credited("s1", credited_seconds=10.0) is None
    bus.forget_session("s1")  # the session ended: the next one is not held back
    assert bus.publish_credited("s1", credited_seconds=11.0) is not None
    assert bus.last_id == 4  # dropped events take no id
    assert [e.type for e in [first, again]] == ["credited", "credited"]
