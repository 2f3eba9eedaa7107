"""Verification samples and the rule deciding which learning time is credited.

Kept pure (no clock, no I/O) so the rule can be checked on its own; `proctor.session` feeds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Outcome of one verification sample, or why a session is not currently verified."""

    OK = "ok"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    MISMATCH = "mismatch"
    LOW_QUALITY = "low_quality"
    CAMERA_LOST = "camera_lost"
    VERIFIER_UNAVAILABLE = "verifier_unavailable"
    TAB_HIDDEN = "tab_hidden"
    STATIC_IMAGE = "static_image"  # liveness: the face region is frozen (a still played as a camera)
    # The two below describe a session, never a verifier verdict.
    NOT_STARTED = "not_started"
    ENDED = "ended"
    # Flag kinds raised by liveness (proctor.provisional), never a sample's reason.
    LIVENESS_FAILED = "liveness_failed"
    VIRTUAL_CAMERA = "virtual_camera"


@dataclass(frozen=True)
class Sample:
    """One verification of one frame."""

    at: float  # when the frame was taken, epoch seconds
    reason: Reason  # verdict; the sample passes iff this is OK
    score: float | None = None  # similarity to the enrolled face, when the verifier computed one

    def __post_init__(self) -> None:
        # A NaN time would compare false with everything and slip past the ordering/gap checks.
        if not math.isfinite(self.at):
            raise ValueError(f"Sample.at must be finite, got {self.at}")

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


@dataclass(frozen=True)
class CreditPolicy:
    """Tunables of the credit and flag rules."""

    sample_interval_s: float = 3.0  # how often the server samples a frame
    max_gap_s: float = 7.5  # longest credited gap between samples: 2.5 intervals tolerates a lost frame
    flag_after: int = 3  # consecutive same-reason failures that raise a flag

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sample_interval_s) and self.sample_interval_s > 0):
            raise ValueError(f"sample_interval_s must be > 0, got {self.sample_interval_s}")
        if not (math.isfinite(self.max_gap_s) and self.max_gap_s > 0):
            raise ValueError(f"max_gap_s must be > 0, got {self.max_gap_s}")
        if self.flag_after < 1:
            raise ValueError(f"flag_after must be >= 1, got {self.flag_after}")


@dataclass(frozen=True)
class CreditedInterval:
    """A span of verified learning time, as appended to the ledger."""

    session_id: str  # the live session it belongs to
    seq: int  # 1, 2, 3… within the session: (session_id, seq) is unique, so replays never double count
    start: float  # time of the earlier passing sample
    end: float  # time of the later passing sample
    lesson_id: str | None = None  # lesson mode: the lesson that played throughout; None in topic mode

    @property
    def seconds(self) -> float:
        return self.end - self.start


def credit_between(
    prev: Sample, cur: Sample, visible_throughout: bool, live: bool, policy: CreditPolicy
) -> bool:
    """Whether the time from `prev` to `cur` (consecutive samples) is credited.

    `prev` and `cur` must already carry the tab-hidden override: a sample taken while the page
    was hidden has reason TAB_HIDDEN whatever the verifier said.
    """
    gap = cur.at - prev.at
    # gap > 0 as well: a zero or negative span would credit nothing or subtract, and an
    # out-of-order sample must never overlap time already credited.
    return live and visible_throughout and prev.ok and cur.ok and 0 < gap <= policy.max_gap_s
