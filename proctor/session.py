"""One live proctoring session: samples and visibility events in, credit and flags out.

Transport-free: the server feeds it verifier verdicts and page-visibility events and appends the
returned `CreditedInterval`s to the ledger. Time comes from an injected `Clock`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from proctor.activity import ActivityGate
from proctor.clock import Clock
from proctor.credit import CreditedInterval, CreditPolicy, Reason, Sample, credit_between
from proctor.flags import Flag, FlagTracker
from proctor.provisional import LivenessUpdate, ProvisionalCredit

State = Literal["verified", "unverified"]


@dataclass(frozen=True)
class SessionUpdate:
    """What one event changed, for the caller to persist and push to clients."""

    credited: CreditedInterval | None = None  # to append to the ledger
    raised: list[Flag] = field(default_factory=list)  # flags opened by this event
    ended: list[Flag] = field(default_factory=list)  # flags closed by this event
    state_changed: bool = False  # whether (state, reason) differs from before the event
    liveness: LivenessUpdate | None = None  # with liveness on: provisional credit, challenges, voids


@dataclass
class _Hidden:
    """A period during which the page was hidden."""

    start: float  # clock time of the hide event
    end: float | None = None  # clock time of the show event; None while still hidden


class LiveSession:
    """Credit and flag state machine of one session.

    Samples must be fed in time order; one whose time is not after the previous one is ignored
    (retries and reordered deliveries must never credit the same time twice).

    With a `liveness` gate, credited intervals are provisional until a head-turn challenge passes
    (`SessionUpdate.liveness`); `credited` is then always None and confirmed time arrives as
    `liveness.confirmed`. Without one, every credited interval is final, as before liveness.
    """

    def __init__(self, session_id: str, policy: CreditPolicy, clock: Clock, *,
                 liveness: ProvisionalCredit | None = None, activity: ActivityGate | None = None) -> None:
        self.session_id = session_id
        self.liveness = liveness
        # Lesson mode: credit also needs a lesson playing throughout. None: topic mode, verification alone.
        self.activity = activity
        self.policy = policy
        self._clock = clock
        self._tracker = FlagTracker(policy.flag_after)
        self._state: State = "unverified"
        self._reason = Reason.NOT_STARTED
        self._live = True
        self._visible = True
        # Hidden periods that may still overlap the next interval; older ones are pruned.
        self._hidden: list[_Hidden] = []
        self._last: Sample | None = None
        self._seq = 0
        self._credited_seconds = 0.0
        self._samples_total = 0
        self._samples_verified = 0

    @property
    def state(self) -> State:
        return self._state

    @property
    def reason(self) -> Reason:
        """Why the session is unverified; OK while verified."""
        return self._reason

    @property
    def live(self) -> bool:
        return self._live

    @property
    def visible(self) -> bool:
        return self._visible

    @property
    def last_sample(self) -> Sample | None:
        """The latest accepted sample, after the tab-hidden override."""
        return self._last

    @property
    def credited_seconds(self) -> float:
        """Confirmed seconds (with liveness, only those a passed challenge confirmed)."""
        return self.liveness.confirmed_seconds if self.liveness is not None else self._credited_seconds

    @property
    def provisional_seconds(self) -> float:
        return self.liveness.provisional_seconds if self.liveness is not None else 0.0

    @property
    def samples_total(self) -> int:
        return self._samples_total

    @property
    def samples_verified(self) -> int:
        return self._samples_verified

    @property
    def flags(self) -> list[Flag]:
        """All flags of the session, open and ended, in the order raised."""
        flags = self._tracker.flags
        if self.liveness is not None:
            flags = sorted(flags + self.liveness.flags, key=lambda f: f.started_at)
        return flags

    def record_sample(self, sample: Sample, *, yaw: float | None = None, change: float | None = None) -> SessionUpdate:
        """Feed one sample; with liveness on, `yaw` is its head-yaw ratio and `change` how much its
        face region changed since the previous sample (None where not measured)."""
        prev = self._last
        if not self._live or (prev is not None and sample.at <= prev.at):
            return SessionUpdate()
        if self.liveness is not None and self.liveness.is_static(change if sample.ok else None):
            sample = replace(sample, reason=Reason.STATIC_IMAGE)  # a still played as a camera earns nothing
        if sample.reason is not Reason.TAB_HIDDEN and self._hidden_at(sample.at):
            # The verdict may be fine, but a face in front of a hidden page is not learning.
            sample = replace(sample, reason=Reason.TAB_HIDDEN)
        credited: CreditedInterval | None = None
        if prev is not None and credit_between(
            prev, sample, self._visible_between(prev.at, sample.at), self._live, self.policy
        ):
            lesson = self.activity.lesson_between(prev.at, sample.at) if self.activity is not None else None
            if self.activity is None or lesson is not None:
                self._seq += 1
                credited = CreditedInterval(self.session_id, self._seq, prev.at, sample.at, lesson)
                self._credited_seconds += credited.seconds
        if self.activity is not None:
            self.activity.prune(sample.at)
        self._last = sample
        self._samples_total += 1
        self._samples_verified += int(sample.ok)
        # Periods over before this sample cannot touch any later interval.
        self._hidden = [h for h in self._hidden if h.end is None or h.end > sample.at]
        raised, ended = self._tracker.observe(sample)
        # A sample taken just before a hide can still pass; the session is not verified while hidden.
        if sample.ok and self._visible:
            changed = self._set_state("verified", Reason.OK)
        else:
            changed = self._set_state("unverified", sample.reason if not sample.ok else Reason.TAB_HIDDEN)
        if self.liveness is None:
            return SessionUpdate(credited, raised, ended, changed)
        live = self.liveness.on_sample(sample, credited, yaw if sample.ok and self._visible else None)
        return SessionUpdate(None, raised + live.raised, ended + live.ended, changed, live)

    def camera_label(self, label: str) -> SessionUpdate:
        """The page reported its camera's label, at clock.now()."""
        if not self._live or self.liveness is None:
            return SessionUpdate()
        live = self.liveness.on_camera(label, self._clock.now())
        return SessionUpdate(raised=list(live.raised), liveness=live)

    def set_visible(self, visible: bool) -> SessionUpdate:
        """Page visibility changed, at clock.now()."""
        if not self._live or visible == self._visible:
            return SessionUpdate()
        self._visible = visible
        now = self._clock.now()
        if not visible:
            self._hidden.append(_Hidden(now))
            return SessionUpdate(state_changed=self._set_state("unverified", Reason.TAB_HIDDEN))
        hidden = self._hidden[-1]
        hidden.end = max(now, hidden.start)
        # Showing the page says nothing about who is at the camera: the state waits for the next sample.
        return SessionUpdate()

    def report_activity(self, lesson_id: str, playing: bool) -> bool:
        """Lesson mode: the page says whether `lesson_id` plays, at clock.now(). False when ignored."""
        if self.activity is None or not self._live:
            return False
        return self.activity.report(lesson_id, playing, self._clock.now())

    def end(self) -> SessionUpdate:
        """Stop crediting for good; closes any open flag at clock.now(). Idempotent."""
        if not self._live:
            return SessionUpdate()
        self._live = False
        now = self._clock.now()
        ended = self._tracker.close(now)
        live = self.liveness.end(now) if self.liveness is not None else None
        if live is not None:
            ended += live.ended
        return SessionUpdate(ended=ended, state_changed=self._set_state("unverified", Reason.ENDED), liveness=live)

    def _set_state(self, state: State, reason: Reason) -> bool:
        changed = (state, reason) != (self._state, self._reason)
        self._state, self._reason = state, reason
        return changed

    def _hidden_at(self, t: float) -> bool:
        # Half-open [start, end): at the instant the page is shown again it counts as visible.
        return any(h.start <= t and (h.end is None or t < h.end) for h in self._hidden)

    def _visible_between(self, start: float, end: float) -> bool:
        # Any hidden period touching (start, end] voids it, even one that lasted no time at all.
        return not any(h.start <= end and (h.end is None or h.end > start) for h in self._hidden)
