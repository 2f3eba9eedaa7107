"""The sampler: every `sample_interval_s`, the newest frame of a stream, verified with a deadline.

A missing or stale frame is `camera_lost`; a late or failed verdict is `verifier_unavailable`:
both fail closed. The sampler only produces samples; what they earn is the domain's business
(`proctor.session.LiveSession`), and writing them down is the recorder's.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from models.embedder import Embeddings
from models.images import RGBImage
from proctor.clock import Clock
from proctor.credit import Reason, Sample

from ..metrics import Metrics
from ..verify.outcome import FrameVerifier, Outcome
from .ingest import FrameSource, to_rgb

log = logging.getLogger("proctor.sampler")


@dataclass(frozen=True)
class Taken:
    """One sample and what produced it."""

    sample: Sample
    outcome: Outcome
    rgb: RGBImage | None  # the verified frame, kept for evidence; None when there was no frame


@dataclass(frozen=True)
class SamplerConfig:
    """Who is sampled, against which references, with which deadline."""

    session_id: str
    student_id: str
    references: Embeddings
    verify_timeout_s: float


class Sampler:
    """Takes samples of one stream; `run` paces them, `take` takes one now."""

    def __init__(self, config: SamplerConfig, source: FrameSource, verifier: FrameVerifier, clock: Clock,
                 metrics: Metrics) -> None:
        self.config = config
        self.source = source
        self.verifier = verifier
        self.clock = clock
        self.metrics = metrics

    async def take(self, interval: float) -> Taken:
        at = self.clock.now()
        frame, age = self.source.frame, self.source.age()
        rgb: RGBImage | None = None
        verify_s: float | None = None
        if frame is None or age is None or age > interval:
            outcome = Outcome(Reason.CAMERA_LOST, None, 0)
        else:
            try:
                rgb = to_rgb(frame)
            except Exception:  # an undecodable frame is this student's problem only
                outcome = Outcome(Reason.CAMERA_LOST, None, 0)
            else:
                loop = asyncio.get_running_loop()
                started = loop.time()
                c = self.config
                outcome = await self.verifier.verify(rgb, c.references, c.verify_timeout_s,
                                                     session_id=c.session_id, student_id=c.student_id)
                verify_s = loop.time() - started
        self.metrics.observe_sample(at, verify_s, outcome.reason.value)
        return Taken(Sample(at=at, reason=outcome.reason, score=outcome.score), outcome, rgb)

    async def run(self, interval: float, live: Callable[[], bool],
                  on_sample: Callable[[Taken], Awaitable[None]], *,
                  pace: Callable[[], float | None] | None = None,
                  connect_timeout_s: float | None = None) -> bool:
        """Sample every `interval` of wall time while `live()`; errors of one sample never end the loop.

        `pace`, when given and returning a period, samples faster for now (a liveness challenge is open).
        Nothing is sampled (no rows written) before the first frame. False if none came within
        `connect_timeout_s` (a stream that never connected); None waits for it for ever.
        """
        loop = asyncio.get_running_loop()
        # Take the first sample as soon as video arrives: credit runs between samples, so a late
        # first sample would cost the student up to a whole interval.
        try:
            await asyncio.wait_for(self.source.first_frame.wait(), connect_timeout_s)
        except TimeoutError:
            return False
        next_at = loop.time()
        # Stagger streams: students who joined together would otherwise be sampled in the same
        # instant forever, and the verifier would see bursts instead of a steady load.
        step = interval * (0.5 + 0.5 * random.Random(self.config.session_id).random())
        while live():
            # A schedule, not synchronisation: samples are taken every interval of wall time.
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = max(next_at + step, loop.time() + interval / 2)
            step = interval
            try:
                await on_sample(await self.take(interval))
            except Exception:  # one bad sample must not end the stream
                log.exception("sample failed for session %s", self.config.session_id)
            fast = pace() if pace is not None else None
            if fast is not None:  # a challenge is open: sample again soon, then resume the schedule
                next_at = min(next_at, loop.time() + fast)
        return True
