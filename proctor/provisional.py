"""Provisional credit: time earned since the last passed liveness challenge waits for the next one.

`LiveSession` hands every interval it would credit to this gate. The gate keeps it provisional;
a passed challenge confirms everything pending, a failed one (after its retry) voids it and raises
`liveness_failed`. At the session's end the pending credit is confirmed only if the last challenge
passed, none is open and no liveness flag is open. Pure: no I/O, time from the samples and an
injected clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from proctor.clock import Clock
from proctor.credit import CreditedInterval, Reason, Sample
from proctor.flags import Flag
from proctor.liveness import Challenge, ChallengeSchedule, LivenessPolicy, StaticWatch, is_virtual_camera, turned

# Why provisional credit was voided (stored on the void row, shown to the student).
VOID_FAILED = "liveness_failed"  # a challenge and its retry were failed or not answered
VOID_UNANSWERED = "challenge_open_at_end"  # the session ended during a challenge
VOID_NO_PASS = "no_challenge_passed"  # the session ended before any challenge passed
VOID_FLAG_OPEN = "liveness_flag_open"  # the session ended while a liveness flag was open


@dataclass(frozen=True)
class Resolution:
    """A challenge's result."""

    challenge: Challenge
    passed: bool
    at: float  # time of the sample that decided it
    yaw: float | None  # that sample's yaw ratio, when measured


@dataclass(frozen=True)
class Void:
    """Provisional credit given up: every pending interval with seq ≤ up_to_seq."""

    up_to_seq: int
    seconds: float
    reason: str  # one of the VOID_* codes
    at: float


@dataclass(frozen=True)
class LivenessUpdate:
    """What liveness changed with one event, for the recorder to persist and the stream to send."""

    provisional: CreditedInterval | None = None  # newly earned, not yet confirmed
    issued: Challenge | None = None  # a new challenge for the page
    resolved: list[Resolution] = field(default_factory=list)
    confirmed: list[CreditedInterval] = field(default_factory=list)  # to copy into the credited ledger
    void: Void | None = None
    raised: list[Flag] = field(default_factory=list)
    ended: list[Flag] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.provisional or self.issued or self.resolved or self.confirmed or self.void
                    or self.raised or self.ended)


class ProvisionalCredit:
    """The liveness gate of one live session."""

    def __init__(self, policy: LivenessPolicy, clock: Clock, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._clock = clock
        # SystemRandom: challenge times and directions must not be predictable from anything.
        self.schedule = ChallengeSchedule(policy, clock, rng or random.SystemRandom())
        self._watch = StaticWatch(policy)
        self._pending: list[CreditedInterval] = []
        self._confirmed_s = 0.0
        self._voided_s = 0.0
        self._last_void: Void | None = None
        self._last_passed = False
        self._failed: Flag | None = None  # the open liveness_failed flag
        self._virtual: Flag | None = None
        self._flags: list[Flag] = []

    # -- what the session and the page read ------------------------------------------------------

    @property
    def provisional_seconds(self) -> float:
        return sum(c.seconds for c in self._pending)

    @property
    def confirmed_seconds(self) -> float:
        return self._confirmed_s

    @property
    def voided_seconds(self) -> float:
        return self._voided_s

    @property
    def last_void(self) -> Void | None:
        return self._last_void

    @property
    def flags(self) -> list[Flag]:
        return list(self._flags)

    def sample_period(self) -> float | None:
        """The faster sampling period while a challenge is open; None otherwise."""
        return self.policy.challenge_sample_s if self.schedule.open is not None else None

    # -- events -----------------------------------------------------------------------------------

    def is_static(self, change: float | None) -> bool:
        """Passive frozen-source check on the face region's change since the previous sample."""
        return self.policy.static_check and self._watch.observe(change)

    def on_sample(self, sample: Sample, credited: CreditedInterval | None, yaw: float | None) -> LivenessUpdate:
        """One sample (after every override) and the interval it would credit."""
        if credited is not None:
            self._pending.append(credited)
        at = sample.at
        resolved: list[Resolution] = []
        confirmed: list[CreditedInterval] = []
        raised: list[Flag] = []
        ended: list[Flag] = []
        void: Void | None = None
        issued: Challenge | None = None
        usable = sample.ok and yaw is not None
        open_ = self.schedule.open
        if open_ is not None and at > open_.deadline:
            resolved.append(Resolution(open_, False, at, yaw))
            if self.schedule.failed(at):
                self._last_passed = False
                void = self._void(VOID_FAILED, at)
                if self._failed is None:
                    self._failed = Flag(Reason.LIVENESS_FAILED, open_.issued_at)
                    self._flags.append(self._failed)
                    raised.append(self._failed)
            else:  # retried at once, against the resting pose measured before the first attempt
                issued = self.schedule.issue(at, open_.baseline, attempt=2)
        elif open_ is not None and usable and at > open_.issued_at and yaw is not None \
                and turned(open_.action, open_.baseline, yaw, self.policy.min_turn):
            resolved.append(Resolution(open_, True, at, yaw))
            self.schedule.passed(at)
            self._last_passed = True
            confirmed = self._confirm()
            if self._failed is not None:
                self._failed.ended_at = at
                ended.append(self._failed)
                self._failed = None
        elif open_ is None and usable and yaw is not None and self.schedule.is_due(at):
            issued = self.schedule.issue(at, yaw)
        return LivenessUpdate(credited, issued, resolved, confirmed, void, raised, ended)

    def on_camera(self, label: str, at: float) -> LivenessUpdate:
        """The page reported its video track's label: a virtual camera raises an informational flag."""
        if not self.policy.virtual_camera_check or self._virtual is not None or not is_virtual_camera(label):
            return LivenessUpdate()
        self._virtual = Flag(Reason.VIRTUAL_CAMERA, at)
        self._flags.append(self._virtual)
        return LivenessUpdate(raised=[self._virtual])

    def end(self, at: float) -> LivenessUpdate:
        """Settle the pending credit and close the open liveness flags (session end). Idempotent."""
        open_ = self.schedule.open
        resolved: list[Resolution] = []
        confirmed: list[CreditedInterval] = []
        void: Void | None = None
        if open_ is not None:
            resolved.append(Resolution(open_, False, at, None))
            self.schedule.failed(at)
        if self._pending:
            if open_ is not None:
                void = self._void(VOID_UNANSWERED, at)
            elif self._failed is not None:
                void = self._void(VOID_FLAG_OPEN, at)
            elif not self._last_passed:
                void = self._void(VOID_NO_PASS, at)
            else:
                confirmed = self._confirm()
        ended: list[Flag] = []
        for flag in (self._failed, self._virtual):
            if flag is not None and flag.ended_at is None:
                flag.ended_at = max(at, flag.started_at)
                ended.append(flag)
        self._failed = None
        return LivenessUpdate(resolved=resolved, confirmed=confirmed, void=void, ended=ended)

    def _confirm(self) -> list[CreditedInterval]:
        confirmed, self._pending = self._pending, []
        self._confirmed_s += sum(c.seconds for c in confirmed)
        return confirmed

    def _void(self, reason: str, at: float) -> Void | None:
        if not self._pending:
            return None
        seconds = self.provisional_seconds
        void = Void(self._pending[-1].seq, seconds, reason, at)
        self._pending = []
        self._voided_s += seconds
        self._last_void = void
        return void
