"""Liveness: head-turn challenges on a random schedule, and the passive checks.

Pure rules on an injected clock and an injected random source: no I/O, no pixels. The server
measures (yaw from landmarks, how much the face region changed) and this module decides.

Mirror convention (docs/liveness.md): `turn_left` is the student's *own* left. In the unmirrored
camera frame the nose then moves toward the image's right edge, so the yaw ratio
r = (nose_x − eye_mid_x) / eye_distance *rises*; `turn_right` makes it fall.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

from proctor.clock import Clock


class Action(StrEnum):
    """What a challenge asks the student to do, in the student's own frame of reference."""

    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"

    @property
    def sign(self) -> int:
        """+1 when the yaw ratio r rises for this action in the unmirrored frame, −1 when it falls."""
        return 1 if self is Action.TURN_LEFT else -1


# Yaw-ratio change that counts as a turn. Calibrated with `proctor eval liveness` on the detector in
# use (docs/benchmarks.md § Liveness): 0.20 keeps BPCER under 5 % (2.9 %) while the landmark errors
# of a flat card or a moved photo rarely reach it; 0.17 accepted more than twice as many card attacks.
DEFAULT_MIN_TURN = 0.20


def turned(action: Action, baseline: float, yaw: float, min_turn: float) -> bool:
    """Whether `yaw` moved from `baseline` in the asked direction by more than `min_turn`."""
    return (yaw - baseline) * action.sign > min_turn


@dataclass(frozen=True)
class LivenessPolicy:
    """Tunables of the challenges and passive checks."""

    interval_s: float = 300.0  # mean time between challenges after the first
    timeout_s: float = 6.0  # how long the student has to turn
    min_turn: float = DEFAULT_MIN_TURN  # yaw-ratio change that counts as a turn
    challenge_sample_s: float = 0.5  # sampling period while a challenge is open
    static_check: bool = True  # frozen frames earn nothing (reason static_image)
    static_samples: int = 3  # consecutive unchanged face regions that mean a frozen source
    static_max_change: float = 0.35  # mean absolute grey-level change below which a face region is "unchanged"
    virtual_camera_check: bool = True  # a virtual camera's label raises an informational flag

    def __post_init__(self) -> None:
        for name in ("interval_s", "timeout_s", "min_turn", "challenge_sample_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.static_samples < 1:
            raise ValueError(f"static_samples must be >= 1, got {self.static_samples}")


@dataclass(frozen=True)
class Challenge:
    """One head-turn challenge as sent to the page."""

    challenge_id: str  # random, unguessable
    action: Action
    issued_at: float  # clock time it was issued
    deadline: float  # issued_at + timeout_s: samples after this cannot pass it
    baseline: float  # yaw ratio of the verified sample it was issued on
    attempt: int  # 1, or 2 for the retry of a failed first attempt

    def to_json(self, timeout_s: float) -> dict[str, object]:
        return {"type": "challenge", "challenge_id": self.challenge_id, "action": self.action.value,
                "timeout_s": timeout_s}


class ChallengeSchedule:
    """When the next challenge is due, which action it asks, and what a result means.

    The first challenge is due at the first verified sample. After a pass the next one comes after
    a random gap averaging `interval_s` (drawn from the injected RNG: nothing derived from the
    session id or the sample phase). A failed attempt is retried at once; a failed retry is final,
    and the next challenge comes after a short random gap so a student who missed it can recover.
    """

    def __init__(self, policy: LivenessPolicy, clock: Clock, rng: random.Random) -> None:
        self.policy = policy
        self._clock = clock
        self._rng = rng
        self._due: float | None = None  # None until the first verified sample
        self._open: Challenge | None = None

    @property
    def open(self) -> Challenge | None:
        return self._open

    @property
    def due_at(self) -> float | None:
        return self._due

    def is_due(self, at: float) -> bool:
        return self._open is None and (self._due is None or at >= self._due)

    def issue(self, at: float, baseline: float, attempt: int = 1) -> Challenge:
        action = Action.TURN_LEFT if self._rng.random() < 0.5 else Action.TURN_RIGHT
        cid = uuid.UUID(int=self._rng.getrandbits(128), version=4).hex
        self._open = Challenge(cid, action, at, at + self.policy.timeout_s, baseline, attempt)
        return self._open

    def _gap(self, mean: float) -> float:
        # Exponential with a floor and a cap: memoryless, so the time since the last challenge says
        # nothing about the next one; the floor avoids back-to-back prompts, the cap long stretches.
        return min(mean * 0.2 + self._rng.expovariate(1.0 / (mean * 0.8)), mean * 4)

    def passed(self, at: float) -> None:
        self._open = None
        self._due = at + self._gap(self.policy.interval_s)

    def failed(self, at: float) -> bool:
        """Close the open challenge as failed; True when it was the retry (the failure is final)."""
        assert self._open is not None
        final = self._open.attempt >= 2
        self._open = None
        self._due = at + (self._gap(min(self.policy.interval_s, 60.0)) if final else 0.0)
        return final


class StaticWatch:
    """Frozen-source check: the face region has not changed (no sensor noise, no motion) for a while."""

    def __init__(self, policy: LivenessPolicy) -> None:
        self.policy = policy
        self._run = 0

    def observe(self, change: float | None) -> bool:
        """Feed how much the face region changed since the previous sample (None: not measurable).

        Returns True while the source looks frozen.
        """
        if change is None or not math.isfinite(change):
            self._run = 0
            return False
        self._run = self._run + 1 if change < self.policy.static_max_change else 0
        return self._run >= self.policy.static_samples


# Labels that virtual camera drivers give their devices (OBS, ManyCam, XSplit, Snap Camera, …).
_VIRTUAL = re.compile(
    r"virtual|\bobs\b|manycam|xsplit|snap camera|camtwist|splitcam|e2esoft|vcam|droidcam|epoccam|"
    r"iriun|\bndi\b|youcam",
    re.IGNORECASE,
)


def is_virtual_camera(label: str) -> bool:
    """Whether a video track label names a known virtual camera."""
    return bool(_VIRTUAL.search(label))
