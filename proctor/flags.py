"""Flags for sustained anomalies (no face, someone else, tab hidden…) shown to reviewers.

A single bad frame is noise (a blink, a head turn); only `flag_after` consecutive samples failing
for the same reason raise a flag.
"""

from __future__ import annotations

from dataclasses import dataclass

from proctor.credit import Reason, Sample

# Reasons that reflect what the student did. VERIFIER_UNAVAILABLE (our outage) and LOW_QUALITY
# (lighting, bandwidth) are deliberately absent: flagging them would blame the student for us.
FLAG_KINDS: frozenset[Reason] = frozenset(
    {Reason.NO_FACE, Reason.MULTIPLE_FACES, Reason.MISMATCH, Reason.CAMERA_LOST, Reason.TAB_HIDDEN,
     Reason.STATIC_IMAGE}
)


@dataclass
class Flag:
    """One sustained anomaly; mutable because it is raised open and ended later."""

    kind: Reason  # the failing reason, one of FLAG_KINDS
    started_at: float  # time of the first sample of the failing run
    ended_at: float | None = None  # time of the first sample that broke the run; None while open


class FlagTracker:
    """Applies the sustained-anomaly rule to a stream of samples in time order."""

    def __init__(self, flag_after: int) -> None:
        if flag_after < 1:
            raise ValueError(f"flag_after must be >= 1, got {flag_after}")
        self._flag_after = flag_after
        self._flags: list[Flag] = []
        self._open: Flag | None = None
        # The current run of samples sharing one reason.
        self._run_reason: Reason | None = None
        self._run_len = 0
        self._run_start = 0.0

    @property
    def flags(self) -> list[Flag]:
        """All flags so far, open and ended, in the order they were raised."""
        return list(self._flags)

    @property
    def open_flag(self) -> Flag | None:
        return self._open

    def observe(self, sample: Sample) -> tuple[list[Flag], list[Flag]]:
        """Feed the next sample (after the tab-hidden override); returns (raised, ended)."""
        raised: list[Flag] = []
        ended: list[Flag] = []
        if self._open is not None and sample.reason is not self._open.kind:
            self._open.ended_at = sample.at
            ended.append(self._open)
            self._open = None
        if sample.reason is self._run_reason:
            self._run_len += 1
        else:
            self._run_reason, self._run_len, self._run_start = sample.reason, 1, sample.at
        if self._open is None and sample.reason in FLAG_KINDS and self._run_len >= self._flag_after:
            self._open = Flag(kind=sample.reason, started_at=self._run_start)
            self._flags.append(self._open)
            raised.append(self._open)
        return raised, ended

    def close(self, at: float) -> list[Flag]:
        """End the open flag, if any, at `at` (session end); returns the flags it ended."""
        if self._open is None:
            return []
        flag, self._open = self._open, None
        # Clock skew must not yield a flag that ends before it starts.
        flag.ended_at = max(at, flag.started_at)
        return [flag]
