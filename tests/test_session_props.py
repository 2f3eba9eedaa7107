"""Property tests: whatever the timeline, credit is never more than verified, never overlaps,
never covers hidden time, and is numbered 1..n.

Times are multiples of 1/4 s so every sum is exact in binary floating point and totals can be
compared with ==, and so gaps of exactly max_gap_s (7.5 s) come up often.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from proctor.clock import FakeClock
from proctor.credit import CreditedInterval, CreditPolicy, Reason, Sample
from proctor.flags import FLAG_KINDS
from proctor.session import LiveSession

VERDICTS = [r for r in Reason if r not in (Reason.NOT_STARTED, Reason.ENDED)]
# Weighted towards OK so that long credited stretches are common.
reasons = st.one_of(st.just(Reason.OK), st.just(Reason.OK), st.sampled_from(VERDICTS))
quarters = st.integers(min_value=0, max_value=40).map(lambda q: q / 4)  # 0 .. 10 s

events = st.lists(
    st.one_of(
        st.tuples(st.just("sample"), quarters, reasons),  # advance, then a sample taken now
        st.tuples(st.just("late"), quarters, reasons),  # a sample taken that long before now
        st.tuples(st.just("hide"), quarters),
        st.tuples(st.just("show"), quarters),
        st.tuples(st.just("end"), quarters),
    ),
    max_size=60,
)
policies = st.builds(
    CreditPolicy,
    max_gap_s=st.sampled_from([7.5, 3.0, 10.0]),
    flag_after=st.integers(min_value=1, max_value=4),
)


@dataclass
class Oracle:
    """An independent, naive model: keeps the full logs and scans them."""

    vis_log: list[tuple[float, bool]] = field(default_factory=list)  # every visibility change
    accepted: list[Sample] = field(default_factory=list)  # in-order live samples, after override
    # len(vis_log) when each accepted sample was recorded: a hide logged later at the same instant
    # as a sample cannot void credit already granted for it.
    seen: dict[float, int] = field(default_factory=dict)
    live: bool = True

    def visible_at(self, t: float, upto: int | None = None) -> bool:
        # The latest change at or before t decides (a hide and show at the same instant: visible).
        state = True
        for at, visible in self.vis_log[:upto]:
            if at <= t:
                state = visible
        return state

    def hidden_within(self, start: float, end: float) -> bool:
        """Whether the page was hidden at any moment of (start, end], as known when `end` was sampled."""
        upto = self.seen[end]
        log = self.vis_log[:upto]
        return not self.visible_at(start, upto) or any(start < at <= end and not v for at, v in log)


def drive(
    policy: CreditPolicy, evs: list[tuple[object, ...]]
) -> tuple[LiveSession, list[CreditedInterval], Oracle]:
    clock = FakeClock(1_000.0)
    s = LiveSession("p", policy, clock)
    oracle = Oracle()
    visible = True
    credited: list[CreditedInterval] = []
    for ev in evs:
        kind, dt = ev[0], ev[1]
        assert isinstance(dt, float)
        if kind in ("sample", "late"):
            reason = ev[2]
            assert isinstance(reason, Reason)
            if kind == "sample":
                clock.advance(dt)
                at = clock.now()
            else:
                at = clock.now() - dt
            u = s.record_sample(Sample(at, reason))
            if oracle.live and (not oracle.accepted or at > oracle.accepted[-1].at):
                hidden = not oracle.visible_at(at)
                oracle.accepted.append(Sample(at, Reason.TAB_HIDDEN if hidden else reason))
                oracle.seen[at] = len(oracle.vis_log)
        else:
            clock.advance(dt)
            if kind == "end":
                u = s.end()
                oracle.live = False
            else:
                want = kind == "show"
                u = s.set_visible(want)
                if oracle.live and want != visible:
                    visible = want
                    oracle.vis_log.append((clock.now(), want))
        if u.credited is not None:
            credited.append(u.credited)
    return s, credited, oracle


@settings(max_examples=300, deadline=None)
@given(policy=policies, evs=events)
def test_credit_invariants(policy: CreditPolicy, evs: list[tuple[object, ...]]) -> None:
    s, credited, oracle = drive(policy, evs)
    acc = oracle.accepted
    pairs = list(itertools.pairwise(acc))

    # seqs are 1..n and belong to this session
    assert [c.seq for c in credited] == list(range(1, len(credited) + 1))
    assert all(c.session_id == "p" for c in credited)

    # every credited interval spans two consecutive passing samples at most max_gap_s apart,
    # with the page visible throughout
    consecutive = {(a.at, b.at): (a, b) for a, b in pairs}
    for c in credited:
        assert (c.start, c.end) in consecutive
        a, b = consecutive[(c.start, c.end)]
        assert a.reason is Reason.OK and b.reason is Reason.OK
        assert 0 < c.seconds <= policy.max_gap_s
        assert not oracle.hidden_within(c.start, c.end)

    # intervals never overlap (and come out in time order)
    for x, y in itertools.pairwise(credited):
        assert x.end <= y.start

    # credited time never exceeds verified time (time between consecutive passing samples)
    verified = sum(b.at - a.at for a, b in pairs if a.reason is Reason.OK and b.reason is Reason.OK)
    assert s.credited_seconds <= verified
    assert s.credited_seconds == sum(c.seconds for c in credited)

    # and nothing creditable was left out: the model credits exactly the same intervals
    expected = [
        (a.at, b.at)
        for a, b in pairs
        if a.reason is Reason.OK
        and b.reason is Reason.OK
        and b.at - a.at <= policy.max_gap_s
        and not oracle.hidden_within(a.at, b.at)
    ]
    assert [(c.start, c.end) for c in credited] == expected

    assert s.samples_total == len(acc)
    assert s.samples_verified == sum(x.reason is Reason.OK for x in acc)
    assert s.live is oracle.live


@settings(max_examples=200, deadline=None)
@given(policy=policies, evs=events)
def test_flag_invariants(policy: CreditPolicy, evs: list[tuple[object, ...]]) -> None:
    s, _, oracle = drive(policy, evs)
    acc = oracle.accepted
    flags = s.flags
    for f in flags:
        assert f.kind in FLAG_KINDS
        # a flag starts a run of at least flag_after samples all failing with its kind
        i = next(i for i, x in enumerate(acc) if x.at == f.started_at)
        run = acc[i : i + policy.flag_after]
        assert len(run) == policy.flag_after and all(x.reason is f.kind for x in run)
        assert i == 0 or acc[i - 1].reason is not f.kind
        if f.ended_at is not None:
            assert f.ended_at >= f.started_at
    # flags never overlap; only the last may still be open, and none is once the session ended
    for x, y in itertools.pairwise(flags):
        assert x.ended_at is not None and x.ended_at <= y.started_at
    if not s.live:
        assert all(f.ended_at is not None for f in flags)
    # every run of flag_after same-kind failures is covered by a flag
    starts = {f.started_at for f in flags}
    for i in range(len(acc)):
        run = acc[i : i + policy.flag_after]
        k = acc[i].reason
        first_of_run = i == 0 or acc[i - 1].reason is not k
        if (
            k in FLAG_KINDS
            and first_of_run
            and len(run) == policy.flag_after
            and all(x.reason is k for x in run)
        ):
            assert acc[i].at in starts
