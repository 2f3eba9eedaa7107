"""The liveness rules on a virtual clock: schedule, provisional credit, voids, passive checks."""

from __future__ import annotations

import random
import statistics

import pytest

from proctor.clock import FakeClock
from proctor.credit import CreditPolicy, Reason, Sample
from proctor.liveness import Action, ChallengeSchedule, LivenessPolicy, StaticWatch, is_virtual_camera, turned
from proctor.provisional import VOID_FAILED, VOID_NO_PASS, VOID_UNANSWERED, ProvisionalCredit
from proctor.session import LiveSession

POLICY = LivenessPolicy(interval_s=300, timeout_s=6, min_turn=0.17)


def session(seed: int = 1, policy: LivenessPolicy = POLICY) -> tuple[LiveSession, FakeClock]:
    clock = FakeClock(1000.0)
    gate = ProvisionalCredit(policy, clock, random.Random(seed))
    return LiveSession("s", CreditPolicy(sample_interval_s=1.0, max_gap_s=2.5), clock, liveness=gate), clock


def ok(at: float) -> Sample:
    return Sample(at, Reason.OK, 0.9)


def answer(s: LiveSession, at: float, amount: float = 0.4) -> None:
    """Feed a sample in which the head is turned the asked way by `amount` from the baseline."""
    gate = s.liveness
    assert gate is not None and gate.schedule.open is not None
    ch = gate.schedule.open
    s.record_sample(ok(at), yaw=ch.baseline + ch.action.sign * amount, change=5.0)


def test_turn_left_means_the_yaw_ratio_rises_in_the_unmirrored_frame() -> None:
    assert turned(Action.TURN_LEFT, 0.0, 0.3, 0.17) and not turned(Action.TURN_LEFT, 0.0, -0.3, 0.17)
    assert turned(Action.TURN_RIGHT, 0.0, -0.3, 0.17) and not turned(Action.TURN_RIGHT, 0.0, 0.3, 0.17)
    assert not turned(Action.TURN_LEFT, 0.1, 0.2, 0.17)  # a card's 0.07 wobble is no turn


def test_first_challenge_comes_with_the_first_verified_sample_and_credit_waits_for_it() -> None:
    s, _ = session()
    first = s.record_sample(Sample(1000.0, Reason.NO_FACE), yaw=None, change=None)
    assert first.liveness is not None and first.liveness.issued is None
    u = s.record_sample(ok(1001.0), yaw=0.02, change=5.0)
    assert u.liveness is not None and u.liveness.issued is not None
    assert u.liveness.issued.baseline == 0.02 and u.liveness.issued.deadline == 1007.0
    u = s.record_sample(ok(1002.0), yaw=0.02, change=5.0)
    assert u.credited is None and u.liveness is not None and u.liveness.provisional is not None
    assert s.credited_seconds == 0 and s.provisional_seconds == pytest.approx(1.0)
    answer(s, 1003.0)
    assert s.credited_seconds == pytest.approx(2.0) and s.provisional_seconds == 0


def test_a_late_answer_fails_is_retried_at_once_and_the_failed_retry_voids_and_flags() -> None:
    s, _ = session()
    s.record_sample(ok(1000.0), yaw=0.0, change=5.0)
    first = s.liveness.schedule.open if s.liveness else None
    assert first is not None
    for t in range(1, 7):
        s.record_sample(ok(1000.0 + t), yaw=0.0, change=5.0)  # never turns
    late = s.record_sample(ok(1007.0), yaw=first.action.sign * 0.5, change=5.0)  # the right turn, too late
    assert late.liveness is not None and [r.passed for r in late.liveness.resolved] == [False]
    retry = late.liveness.issued
    assert retry is not None and retry.attempt == 2 and retry.baseline == first.baseline
    for t in range(8, 15):
        u = s.record_sample(ok(1000.0 + t), yaw=0.0, change=5.0)
    assert u.liveness is not None and u.liveness.void is not None and u.liveness.void.reason == VOID_FAILED
    assert [f.kind for f in u.raised] == [Reason.LIVENESS_FAILED]
    assert s.credited_seconds == 0 and s.liveness is not None and s.liveness.voided_seconds == pytest.approx(14.0)
    # A later pass confirms only what was earned after the void, and ends the flag.
    due = s.liveness.schedule.due_at
    assert due is not None
    t0 = float(int(due) + 1)
    s.record_sample(ok(t0 - 1), yaw=0.0, change=5.0)
    u = s.record_sample(ok(t0), yaw=0.0, change=5.0)
    assert u.liveness is not None and u.liveness.issued is not None
    s.record_sample(ok(t0 + 1), yaw=0.0, change=5.0)
    gate = s.liveness
    ch = gate.schedule.open
    assert ch is not None
    u = s.record_sample(ok(t0 + 2), yaw=ch.baseline + ch.action.sign * 0.4, change=5.0)
    assert u.liveness is not None and [f.kind for f in u.ended] == [Reason.LIVENESS_FAILED]
    assert s.credited_seconds == pytest.approx(gate.confirmed_seconds) and s.credited_seconds > 0


def test_end_confirms_after_a_pass_and_voids_an_unanswered_challenge() -> None:
    s, clock = session()
    s.record_sample(ok(1000.0), yaw=0.0, change=5.0)
    answer(s, 1001.0)
    s.record_sample(ok(1002.0), yaw=0.0, change=5.0)
    clock.set(1003.0)
    end = s.end()
    assert end.liveness is not None and [c.seq for c in end.liveness.confirmed] == [2]
    assert s.credited_seconds == pytest.approx(2.0)

    s, clock = session()
    s.record_sample(ok(1000.0), yaw=0.0, change=5.0)
    s.record_sample(ok(1001.0), yaw=0.0, change=5.0)
    clock.set(1002.0)
    end = s.end()
    assert end.liveness is not None and end.liveness.void is not None
    assert end.liveness.void.reason == VOID_UNANSWERED and s.credited_seconds == 0


def test_end_before_any_challenge_voids() -> None:
    clock = FakeClock(0.0)
    gate = ProvisionalCredit(POLICY, clock, random.Random(3))
    s = LiveSession("s", CreditPolicy(), clock, liveness=gate)
    # No yaw measured, so no challenge can be issued, and nothing is ever confirmed.
    s.record_sample(ok(1.0))
    s.record_sample(ok(2.0))
    end = s.end()
    assert end.liveness is not None and end.liveness.void is not None and end.liveness.void.reason == VOID_NO_PASS


def test_a_frozen_face_region_is_static_image_earns_nothing_and_is_flagged() -> None:
    s, _ = session()
    reasons = []
    flags = []
    for t in range(8):
        u = s.record_sample(ok(1000.0 + t), yaw=0.0, change=0.0)
        reasons.append(s.last_sample.reason if s.last_sample else None)
        flags += [f.kind for f in u.raised]
    assert reasons[:2] == [Reason.OK, Reason.OK] and set(reasons[3:]) == {Reason.STATIC_IMAGE}
    assert Reason.STATIC_IMAGE in flags
    assert s.credited_seconds == 0


def test_static_watch_forgets_a_run_on_change() -> None:
    w = StaticWatch(POLICY)
    assert [w.observe(c) for c in (0.0, 0.0, 5.0, 0.0, 0.0, 0.0)] == [False, False, False, False, False, True]


def test_without_liveness_behaviour_is_as_before() -> None:
    clock = FakeClock(0.0)
    s = LiveSession("s", CreditPolicy(), clock)
    s.record_sample(ok(1.0))
    u = s.record_sample(ok(2.0))
    assert u.credited is not None and u.liveness is None and s.credited_seconds == 1.0


def test_schedule_averages_the_interval_and_never_repeats_per_session() -> None:
    clock = FakeClock(0.0)
    gaps = []
    sched = ChallengeSchedule(POLICY, clock, random.Random(7))
    at = 0.0
    for _ in range(4000):
        sched.issue(at, 0.0)
        sched.passed(at)
        assert sched.due_at is not None
        gaps.append(sched.due_at - at)
        at = sched.due_at
    assert 270 < statistics.mean(gaps) < 330 and min(gaps) >= 60 and statistics.pstdev(gaps) > 150
    a = ChallengeSchedule(POLICY, clock, random.Random(1)).issue(0.0, 0.0)
    b = ChallengeSchedule(POLICY, clock, random.Random(2)).issue(0.0, 0.0)
    assert a.challenge_id != b.challenge_id


@pytest.mark.parametrize("label,virtual", [
    ("OBS Virtual Camera", True), ("ManyCam Virtual Webcam", True), ("XSplit VCam", True),
    ("Snap Camera", True), ("Integrated Camera (04f2:b6dd)", False), ("FaceTime HD Camera", False),
    ("fake_device_0", False),
])
def test_virtual_camera_labels(label: str, virtual: bool) -> None:
    assert is_virtual_camera(label) is virtual


def test_a_virtual_camera_raises_one_informational_flag() -> None:
    s, _ = session()
    u = s.camera_label("OBS Virtual Camera")
    assert [f.kind for f in u.raised] == [Reason.VIRTUAL_CAMERA]
    assert s.camera_label("OBS Virtual Camera").raised == []
