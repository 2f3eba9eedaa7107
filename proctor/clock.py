"""Time source for the domain.

The domain never calls `time.time()` itself: it takes a `Clock`, so that timing rules (gaps,
visibility periods, flag durations) are tested by moving a `FakeClock` instead of sleeping.
"""

from __future__ import annotations

import math
import time
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time."""

    def now(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...


class SystemClock:
    """The real clock.

    Wall-clock rather than monotonic time because sample times are stored in the ledger and
    compared across restarts, where a monotonic origin would be meaningless.
    """

    def now(self) -> float:
        return time.time()


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = _finite(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move forward by `seconds` (>= 0): going back is `set`'s job, so it is never accidental."""
        if _finite(seconds) < 0:
            raise ValueError(f"advance() needs seconds >= 0, got {seconds}")
        self._now += seconds

    def set(self, t: float) -> None:
        """Jump to `t`, backwards too (to test clock skew)."""
        self._now = _finite(t)


def _finite(x: float) -> float:
    # A NaN would silently make every later comparison false.
    if not math.isfinite(x):
        raise ValueError(f"time must be finite, got {x}")
    return float(x)
