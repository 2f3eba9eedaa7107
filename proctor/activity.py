"""Lesson mode's activity gate: which lesson was playing (or being read) throughout a span of time.

The page reports `{"lesson_id", "playing"}` on every change and at least every `report_every_s`
while it plays; a report older than `stale_s` no longer vouches for anything, so a page that stops
reporting (a frozen tab, a client that only sent one "playing") stops earning. Pure, on the times the
caller gives (the live session's injected clock).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

REPORT_EVERY_S = 15.0  # the page's promise, documented in docs/contracts.md


@dataclass
class _Playing:
    """One stretch of one lesson playing: from `start`, vouched for until `heard` + stale_s or `end`."""

    lesson_id: str
    start: float
    heard: float  # the latest report that said it still plays
    end: float | None = None  # the report that said it stopped (paused, another lesson); None: still playing


class ActivityGate:
    """Playing stretches of the lessons of one topic; `lesson_between` is what credit asks."""

    def __init__(self, lessons: Collection[str], stale_s: float = 20.0) -> None:
        if not (math.isfinite(stale_s) and stale_s > 0):
            raise ValueError(f"stale_s must be > 0, got {stale_s}")
        self.lessons = frozenset(lessons)
        self.stale_s = stale_s
        self._stretches: list[_Playing] = []

    @property
    def current(self) -> str | None:
        """The lesson playing now, by the latest report (None while paused)."""
        last = self._stretches[-1] if self._stretches else None
        return last.lesson_id if last is not None and last.end is None else None

    def report(self, lesson_id: str, playing: bool, at: float) -> bool:
        """Record a report at clock time `at`; False (and ignored) for a lesson outside the topic."""
        if lesson_id not in self.lessons or not math.isfinite(at):
            return False
        last = self._stretches[-1] if self._stretches else None
        if last is not None and last.end is None:
            if playing and last.lesson_id == lesson_id and at - last.heard <= self.stale_s:
                last.heard = max(last.heard, at)
                return True
            # Stopped, switched lesson, or went quiet too long: that stretch ends where it was last vouched for.
            last.end = max(last.start, min(at, last.heard + self.stale_s))
        if playing:
            self._stretches.append(_Playing(lesson_id, at, at))
        return True

    def lesson_between(self, start: float, end: float) -> str | None:
        """The lesson that played throughout [start, end], if one did."""
        for s in reversed(self._stretches):  # in order of start: only the latest to start by `start` can
            if s.start <= start:
                until = s.heard + self.stale_s if s.end is None else min(s.end, s.heard + self.stale_s)
                return s.lesson_id if end <= until else None
        return None

    def prune(self, before: float) -> None:
        """Forget stretches over before `before`: no later interval can start inside them."""
        self._stretches = [s for s in self._stretches if s.end is None or s.end > before]
