"""Maintenance windows on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from proctor.clock import FakeClock
from proctor.db import Database
from proctor.maintenance import Maintenance, Window

T0 = 1_700_000_000.0
DAY = 86400.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def maint(db: Database, clock: FakeClock) -> Maintenance:
    return Maintenance(db, clock)


async def test_validation(maint: Maintenance) -> None:
    with pytest.raises(ValueError, match="after"):
        await maint.add(T0 + 10, T0 + 10, "x")
    with pytest.raises(ValueError, match="after"):
        await maint.add(T0 + 10, T0, "x")
    with pytest.raises(ValueError, match="empty"):
        await maint.add(T0, T0 + 10, "   ")
    with pytest.raises(ValueError, match="500"):
        await maint.add(T0, T0 + 10, "x" * 501)
    with pytest.raises(ValueError, match="finite"):
        await maint.add(T0, float("inf"), "x")
    w = await maint.add(T0, T0 + 10, " " + "x" * 500 + " ")
    assert w.message == "x" * 500 and w.created_at == T0
    assert await maint.list_all() == [w]


async def test_active_upcoming_and_remove(maint: Maintenance, clock: FakeClock) -> None:
    later = await maint.add(T0 + 3 * DAY, T0 + 3 * DAY + 3600, "Database upgrade")
    soon = await maint.add(T0 + 3600, T0 + 7200, "Server restart")
    far = await maint.add(T0 + 30 * DAY, T0 + 30 * DAY + 60, "Far away")
    past = await maint.add(T0 - 7200, T0 - 3600, "Done already")

    assert await maint.active() is None
    assert await maint.upcoming() == [soon, later]
    assert await maint.upcoming(within_s=2 * 3600) == [soon]
    assert await maint.list_all() == [past, soon, later, far]

    clock.set(T0 + 3600)  # start is inclusive
    assert await maint.active() == soon
    assert await maint.upcoming() == [later]
    clock.set(T0 + 7200)  # end is exclusive
    assert await maint.active() is None

    assert await maint.remove(later.id) is True
    assert await maint.remove(later.id) is False
    assert await maint.upcoming(within_s=40 * DAY) == [far]


async def test_overlapping_windows(maint: Maintenance, clock: FakeClock) -> None:
    first = await maint.add(T0 - 60, T0 + 600, "First")
    await maint.add(T0 - 30, T0 + 60, "Second")
    active = await maint.active()
    assert isinstance(active, Window) and active == first
