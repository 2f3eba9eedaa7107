"""Unit tests of the credit rule, the flag rule and the LiveSession state machine (FakeClock, no sleeps)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pytest

from proctor.clock import FakeClock, SystemClock
from proctor.credit import CreditedInterval, CreditPolicy, Reason, Sample, credit_between
from proctor.flags import FLAG_KINDS, FlagTracker
from proctor.session import LiveSession, SessionUpdate

OK = Reason.OK
NO_FACE = Reason.NO_FACE
MISMATCH = Reason.MISMATCH
POLICY = CreditPolicy()


# --- helpers --------------------------------------------------------------------------------------


@dataclass
class Run:
    session: LiveSession
    clock: FakeClock
    updates: list[SessionUpdate]

    @property
    def credited(self) -> list[tuple[float, float]]:
        return [(u.credited.start, u.credited.end) for u in self.updates if u.credited is not None]


def apply(s: LiveSession, clock: FakeClock, ev: tuple[object, ...]) -> SessionUpdate:
    """(t, reason): sample at t; (t, "hide"|"show"|"end"): that event at t;
    (t, "late", at, reason): a sample taken at `at` but recorded at t."""
    t, what = ev[0], ev[1]
    assert isinstance(t, float | int)
    clock.set(t)
    if what == "hide":
        return s.set_visible(False)
    if what == "show":
        return s.set_visible(True)
    if what == "end":
        return s.end()
    if what == "late":
        at, reason = ev[2], ev[3]
        assert isinstance(at, float | int) and isinstance(reason, Reason)
        return s.record_sample(Sample(at, reason))
    assert isinstance(what, Reason)
    return s.record_sample(Sample(clock.now(), what))


def play(*events: tuple[object, ...], policy: CreditPolicy = POLICY) -> Run:
    clock = FakeClock(0.0)
    s = LiveSession("sess-1", policy, clock)
    return Run(s, clock, [apply(s, clock, ev) for ev in events])


def samples(*reasons: Reason, step: float = 3.0) -> list[tuple[float, Reason]]:
    return [(i * step, r) for i, r in enumerate(reasons)]


# --- the pure rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prev", "cur", "visible", "live", "policy", "expected"),
    [
        pytest.param(Sample(0, OK), Sample(3, OK), True, True, POLICY, True, id="both-ok"),
        pytest.param(Sample(0, OK), Sample(3, NO_FACE), True, True, POLICY, False, id="cur-failed"),
        pytest.param(Sample(0, MISMATCH), Sample(3, OK), True, True, POLICY, False, id="prev-failed"),
        pytest.param(Sample(0, OK), Sample(3, Reason.TAB_HIDDEN), True, True, POLICY, False, id="cur-hidden"),
        pytest.param(Sample(0, OK), Sample(7.5, OK), True, True, POLICY, True, id="gap-exactly-max"),
        pytest.param(Sample(0, OK), Sample(7.51, OK), True, True, POLICY, False, id="gap-over-max"),
        pytest.param(Sample(0, OK), Sample(3, OK), False, True, POLICY, False, id="hidden-during"),
        pytest.param(Sample(0, OK), Sample(3, OK), True, False, POLICY, False, id="not-live"),
        pytest.param(Sample(3, OK), Sample(3, OK), True, True, POLICY, False, id="same-time"),
        pytest.param(Sample(3, OK), Sample(1, OK), True, True, POLICY, False, id="out-of-order"),
        pytest.param(
            Sample(0, OK), Sample(3, OK), True, True, CreditPolicy(max_gap_s=2.0), False, id="custom-max-gap"
        ),
    ],
)
def test_credit_between(
    prev: Sample, cur: Sample, visible: bool, live: bool, policy: CreditPolicy, expected: bool
) -> None:
    assert credit_between(prev, cur, visible, live, policy) is expected


# --- crediting through LiveSession ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(samples(OK, OK), [(0, 3)], id="both-ok"),
        pytest.param(samples(OK, NO_FACE, OK), [], id="one-failed"),
        pytest.param(samples(OK, OK, Reason.VERIFIER_UNAVAILABLE, OK, OK), [(0, 3), (9, 12)], id="outage"),
        pytest.param([(0, OK), (7.6, OK)], [], id="gap-over-max"),
        pytest.param([(0, OK), (7.5, OK)], [(0, 7.5)], id="gap-exactly-max"),
        pytest.param(
            [(0, OK), (1, "hide"), (1.5, "show"), (3, OK), (6, OK)], [(3, 6)], id="hidden-during-interval"
        ),
        pytest.param([(0, OK), (1, "hide"), (1, "show"), (3, OK)], [], id="zero-length-hide-voids"),
        pytest.param([(0, OK), (3, "hide"), (3, "show"), (3, OK)], [], id="hide-at-sample-instant"),
        pytest.param(
            [(0, "hide"), (1, "show"), (2, OK), (5, OK)], [(2, 5)], id="hidden-before-prev-does-not-void"
        ),
        pytest.param(
            [(0, OK), (2, "hide"), (3, OK), (4, "show"), (6, OK), (9, OK)], [(6, 9)], id="hidden-at-sample"
        ),
        pytest.param(
            # Shown again at the very instant of the sample: that sample counts as visible.
            [(0, OK), (1, "hide"), (3, "show"), (3, OK), (6, OK)],
            [(3, 6)],
            id="shown-at-sample-instant",
        ),
        pytest.param(
            # The hidden period [5, 6) lies after the late sample's time, so it must still void (4, 7].
            [(1, OK), (5, "hide"), (6, "show"), (6.5, "late", 4, OK), (7, OK)],
            [(1, 4)],
            id="hidden-period-after-late-sample",
        ),
        pytest.param([(0, OK), (3, OK), (4, "end"), (6, OK), (9, OK)], [(0, 3)], id="nothing-after-end"),
        pytest.param(
            [(0, OK), (3, OK), (4, "late", 2, OK), (5, "late", 3, OK), (6, OK)],
            [(0, 3), (3, 6)],
            id="out-of-order-and-duplicate-ignored",
        ),
        pytest.param(
            # Taken at 4 (page visible), verified after the hide at 5: the frame still counts,
            # but the interval after it contains the hidden period.
            [(1, OK), (5, "hide"), (5.5, "late", 4, OK), (6, "show"), (7, OK), (10, OK)],
            [(1, 4), (7, 10)],
            id="sample-taken-before-hide",
        ),
    ],
)
def test_session_credit(events: list[tuple[object, ...]], expected: list[tuple[float, float]]) -> None:
    run = play(*events)
    assert run.credited == expected
    assert run.session.credited_seconds == sum(e - s for s, e in expected)


def test_seq_numbering_is_consecutive_across_failures() -> None:
    run = play(*samples(OK, OK, NO_FACE, OK, OK, OK))
    got = [u.credited for u in run.updates if u.credited is not None]
    assert got == [
        CreditedInterval("sess-1", 1, 0, 3),
        CreditedInterval("sess-1", 2, 9, 12),
        CreditedInterval("sess-1", 3, 12, 15),
    ]
    assert [c.seconds for c in got] == [3, 3, 3]
    assert run.session.credited_seconds == 9


def test_hidden_at_sample_overrides_verdict() -> None:
    clock = FakeClock(10)
    s = LiveSession("s", POLICY, clock)
    s.set_visible(False)
    clock.advance(1)
    u = s.record_sample(Sample(clock.now(), OK, score=0.93))
    assert s.last_sample == Sample(11, Reason.TAB_HIDDEN, 0.93)
    assert (s.state, s.reason) == ("unverified", Reason.TAB_HIDDEN)
    assert (s.samples_total, s.samples_verified) == (1, 0)
    assert u.credited is None


def test_counters_only_count_live_in_order_samples() -> None:
    run = play(
        (0, OK), (3, NO_FACE), (6, OK), (7, "late", 5, OK), (8, "hide"), (9, OK), (10, "end"), (12, OK)
    )
    assert (run.session.samples_total, run.session.samples_verified) == (4, 2)


# --- flags ----------------------------------------------------------------------------------------

UNAVAILABLE = Reason.VERIFIER_UNAVAILABLE


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        pytest.param([NO_FACE], [], id="single-frame"),
        pytest.param([NO_FACE, NO_FACE], [], id="two-frames"),
        pytest.param([NO_FACE] * 3, [(NO_FACE, 0, None)], id="three-frames"),
        pytest.param([NO_FACE] * 5, [(NO_FACE, 0, None)], id="raised-once"),
        pytest.param([OK, NO_FACE, NO_FACE, NO_FACE, OK, OK], [(NO_FACE, 3, 12)], id="ended-by-ok"),
        pytest.param([NO_FACE, NO_FACE, MISMATCH, NO_FACE, NO_FACE], [], id="mixed-reasons"),
        pytest.param([NO_FACE, UNAVAILABLE, NO_FACE, NO_FACE], [], id="outage-breaks-run"),
        pytest.param([UNAVAILABLE] * 6, [], id="verifier-unavailable-never"),
        pytest.param([Reason.LOW_QUALITY] * 6, [], id="low-quality-never"),
        pytest.param(
            [NO_FACE] * 3 + [MISMATCH] * 3,
            [(NO_FACE, 0, 9), (MISMATCH, 9, None)],
            id="kind-change",
        ),
        pytest.param(
            [NO_FACE] * 3 + [UNAVAILABLE] + [NO_FACE] * 3,
            [(NO_FACE, 0, 9), (NO_FACE, 12, None)],
            id="ended-by-outage-then-again",
        ),
        pytest.param([Reason.MULTIPLE_FACES] * 3, [(Reason.MULTIPLE_FACES, 0, None)], id="multiple-faces"),
        pytest.param([Reason.CAMERA_LOST] * 3, [(Reason.CAMERA_LOST, 0, None)], id="camera-lost"),
    ],
)
def test_flags(reasons: list[Reason], expected: list[tuple[Reason, float, float | None]]) -> None:
    run = play(*samples(*reasons))
    assert [(f.kind, f.started_at, f.ended_at) for f in run.session.flags] == expected


def test_flag_transitions_reported_on_the_right_update() -> None:
    run = play(*samples(NO_FACE, NO_FACE, NO_FACE, NO_FACE, OK))
    raised = [[f.kind for f in u.raised] for u in run.updates]
    ended = [[f.ended_at for f in u.ended] for u in run.updates]
    assert raised == [[], [], [NO_FACE], [], []]
    assert ended == [[], [], [], [], [12]]
    # The update hands out the same object the session lists, so later ending is visible in both.
    assert run.updates[2].raised[0] is run.session.flags[0]


def test_tab_hidden_flag_from_hidden_page() -> None:
    run = play((0, OK), (1, "hide"), (3, OK), (6, OK), (9, OK), (10, "show"), (12, OK))
    assert [(f.kind, f.started_at, f.ended_at) for f in run.session.flags] == [(Reason.TAB_HIDDEN, 3, 12)]


def test_end_closes_open_flag_at_now_and_is_idempotent() -> None:
    run = play(*samples(NO_FACE, NO_FACE, NO_FACE), (8, "end"))
    flag = run.session.flags[0]
    assert run.updates[-1].ended == [flag]
    assert (flag.started_at, flag.ended_at) == (0, 8)
    run.clock.set(20)
    again = run.session.end()
    assert again == SessionUpdate()
    assert flag.ended_at == 8


def test_flag_tracker_rejects_zero_threshold_and_kinds_are_students_doing() -> None:
    with pytest.raises(ValueError):
        FlagTracker(0)
    assert FLAG_KINDS == {NO_FACE, Reason.MULTIPLE_FACES, MISMATCH, Reason.CAMERA_LOST, Reason.TAB_HIDDEN,
                          Reason.STATIC_IMAGE}  # a frozen camera (liveness) is the student's doing too


# --- state machine --------------------------------------------------------------------------------

V, U = "verified", "unverified"


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [(0, OK), (3, OK), (6, NO_FACE), (9, NO_FACE), (12, MISMATCH), (15, OK)],
            [
                (V, OK, True),
                (V, OK, False),
                (U, NO_FACE, True),
                (U, NO_FACE, False),
                (U, MISMATCH, True),
                (V, OK, True),
            ],
            id="verdicts",
        ),
        pytest.param(
            [(0, OK), (1, "hide"), (2, "hide"), (2.5, "show"), (3, OK), (4, "show")],
            [
                (V, OK, True),
                (U, Reason.TAB_HIDDEN, True),
                (U, Reason.TAB_HIDDEN, False),
                (U, Reason.TAB_HIDDEN, False),
                (V, OK, True),
                (V, OK, False),
            ],
            id="visibility",
        ),
        pytest.param(
            [(0, "hide"), (1, "show"), (2, OK)],
            [(U, Reason.TAB_HIDDEN, True), (U, Reason.TAB_HIDDEN, False), (V, OK, True)],
            id="hidden-before-first-sample",
        ),
        pytest.param(
            # Passing frame taken before the hide: still not verified while the page is hidden.
            [(0, OK), (5, "hide"), (5.5, "late", 4, OK)],
            [(V, OK, True), (U, Reason.TAB_HIDDEN, True), (U, Reason.TAB_HIDDEN, False)],
            id="ok-sample-while-hidden",
        ),
        pytest.param(
            [(0, OK), (1, "end"), (2, "end"), (3, OK), (4, "hide"), (5, "show")],
            [
                (V, OK, True),
                (U, Reason.ENDED, True),
                (U, Reason.ENDED, False),
                (U, Reason.ENDED, False),
                (U, Reason.ENDED, False),
                (U, Reason.ENDED, False),
            ],
            id="ended",
        ),
        pytest.param(
            [(0, OK), (3, OK), (4, "late", 2, NO_FACE)],
            [(V, OK, True), (V, OK, False), (V, OK, False)],
            id="out-of-order-ignored",
        ),
    ],
)
def test_state_transitions(
    events: list[tuple[object, ...]], expected: list[tuple[str, Reason, bool]]
) -> None:
    clock = FakeClock()
    s = LiveSession("s", POLICY, clock)
    assert (s.state, s.reason, s.live) == (U, Reason.NOT_STARTED, True)
    got: list[tuple[str, Reason, bool]] = []
    for ev in events:
        u = apply(s, clock, ev)
        got.append((s.state, s.reason, u.state_changed))
    assert got == expected
    assert s.live is not any(ev[1] == "end" for ev in events)


# --- small pieces ---------------------------------------------------------------------------------


def test_fake_clock() -> None:
    c = FakeClock(100)
    c.advance(2.5)
    assert c.now() == 102.5
    c.set(50)
    assert c.now() == 50
    with pytest.raises(ValueError):
        c.advance(-1)
    with pytest.raises(ValueError):
        c.set(math.nan)


def test_system_clock_is_wall_clock() -> None:
    before = time.time()
    assert before <= SystemClock().now() <= time.time()


@pytest.mark.parametrize(
    "kwargs", [{"max_gap_s": 0}, {"max_gap_s": math.inf}, {"sample_interval_s": -1}, {"flag_after": 0}]
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CreditPolicy(**kwargs)  # type: ignore[arg-type]


def test_sample_rejects_non_finite_time() -> None:
    with pytest.raises(ValueError):
        Sample(math.nan, OK)
