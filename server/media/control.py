"""Limits on what one stream's page can make the server do, and on how long it may take to connect.

The page's `control` data channel reports tab visibility. The domain always learns of a real
change (that is cheap and in memory, and credit depends on it), but the database write and status
reply it triggers are paced: messages that change nothing are dropped, a token bucket per channel
caps how many writes messages can cause, and at most `max_pending_writes` are in flight. A change
whose write was skipped is written with the next sample, which records the session's state anyway.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamLimits:
    """Per-stream limits (settings `stream_connect_timeout_s`, `control_*`)."""

    connect_timeout_s: float = 30.0  # a stream with no video frame by then ends as never_connected
    control_rate_per_s: float = 2.0  # writes the control channel may cause per second, on average…
    control_burst: int = 10  # …and at once
    max_pending_writes: int = 4  # control-channel writes in flight at once


class TokenBucket:
    """`burst` tokens, refilled at `rate_per_s`; `take(now)` spends one if there is one."""

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
