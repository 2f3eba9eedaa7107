"""One live stream per student: the peer connection, the sampler and the domain session together.

Every `sample_interval_s` the sampler takes the newest frame and verifies it through the batcher
with a deadline. A missing or stale frame is `camera_lost`; a late or failed verdict is
`verifier_unavailable` — both fail closed. Each sample goes to the domain's `LiveSession`, whose
credited intervals, flags and state are written to the ledger at once, and the student gets a
status message on the data channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import astuple, dataclass
from typing import cast

from aiortc import RTCDataChannel, RTCPeerConnection

from models.embedder import Embeddings
from models.snapshots import annotated_jpeg
from proctor.clock import Clock
from proctor.credit import CreditPolicy, Reason, Sample
from proctor.events import EventBus
from proctor.evidence import Evidence
from proctor.flags import Flag
from proctor.ledger import Ledger, SessionState
from proctor.session import LiveSession, SessionUpdate
from proctor.session_records import FlagView

from .ingest import LatestFrame, to_rgb
from .metrics import Metrics
from .verifier import FrameVerifier, Outcome

log = logging.getLogger("proctor.live")


@dataclass(frozen=True)
class StreamContext:
    """Who is streaming what, and the module totals the status line shows."""

    session_id: str
    user_id: int
    topic_id: str
    module_id: str
    module_credited_before: float  # seconds credited in this module before this session
    module_required: float
    web_session_id: str = ""  # the login that started it: revoking that login ends the stream
    student: dict[str, object] | None = None  # {"id", "srn", "name"} for proctors' events
    topic_title: str = ""


class LiveStream:
    """A student's live session: owns the peer connection, the frame drain and the sample loop."""

    def __init__(self, ctx: StreamContext, pc: RTCPeerConnection, latest: LatestFrame | None,
                 references: Embeddings, verifier: FrameVerifier, ledger: Ledger, clock: Clock,
                 policy: CreditPolicy, verify_timeout_s: float) -> None:
        self.ctx = ctx
        self.pc = pc
        self.latest = latest
        self.references = references
        self.verifier = verifier
        self.ledger = ledger
        self.clock = clock
        self.policy = policy
        self.verify_timeout_s = verify_timeout_s
        self.session = LiveSession(ctx.session_id, policy, clock)
        self.channel: RTCDataChannel | None = None
        self.last_outcome: Outcome | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()  # visibility writes in flight
        self.registry: LiveRegistry | None = None
        self._closed = False
        self._owned: list[asyncio.Task[None]] = []  # e.g. audio drains, cancelled at close
        self.events: EventBus | None = None
        self.evidence: Evidence | None = None
        self._last_rgb: object | None = None  # the frame of the latest sample, for evidence
        self.flag_ids: dict[tuple[str, float], int] = {}  # (kind, started_at) → flag id
        self.started_at = clock.now()
        self.metrics: Metrics | None = None
        self._write_lock = asyncio.Lock()  # ledger writes stay in sample order

    @property
    def session_id(self) -> str:
        return self.ctx.session_id

    def start(self) -> None:
        self._publish("session_started", topic_id=self.ctx.topic_id, module_id=self.ctx.module_id)
        if self.latest is not None:
            self.latest.start()
        self._task = asyncio.create_task(self._sample_loop(), name=f"sampler-{self.session_id}")

    def track_task(self, task: asyncio.Task[None]) -> None:
        self._owned.append(task)

    def attach_channel(self, channel: RTCDataChannel) -> None:
        self.channel = channel

        @channel.on("message")
        def on_message(message: object) -> None:
            self.on_control(message)

    def on_control(self, message: object) -> None:
        """Messages from the page; anything malformed is ignored, never fatal."""
        try:
            data = json.loads(message) if isinstance(message, str) else None
        except json.JSONDecodeError:
            return
        if isinstance(data, dict) and data.get("type") == "visibility" and isinstance(data.get("visible"), bool):
            update = self.session.set_visible(data["visible"])
            task = asyncio.get_running_loop().create_task(self._persist(update), name=f"visibility-{self.session_id}")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _sample_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.policy.sample_interval_s
        if self.latest is not None:
            # Take the first sample as soon as video arrives: credit runs between samples, so a
            # late first sample would cost the student up to a whole interval.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.latest.first_frame.wait(), interval)
        next_at = loop.time()
        first = True
        while self.session.live:
            # A schedule, not synchronisation: samples are taken every interval of wall time.
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            step = interval
            if first:
                # Stagger streams: students who joined together would otherwise be sampled in the same
                # instant forever, and the verifier would see bursts instead of a steady load.
                step = interval * (0.5 + 0.5 * random.Random(self.session_id).random())
                first = False
            next_at = max(next_at + step, loop.time() + interval / 2)
            try:
                await self.take_sample(interval)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad sample must not end the stream
                log.exception("sample failed for session %s", self.session_id)

    async def take_sample(self, interval: float) -> None:
        at = self.clock.now()
        latest = self.latest
        age = latest.age() if latest is not None else None
        self._last_rgb = None
        if latest is None or latest.frame is None or age is None or age > interval:
            outcome = Outcome(Reason.CAMERA_LOST, None, 0)
        else:
            try:
                rgb = to_rgb(latest.frame)
            except Exception:  # an undecodable frame is this student's problem only
                outcome = Outcome(Reason.CAMERA_LOST, None, 0)
            else:
                self._last_rgb = rgb
                started = asyncio.get_running_loop().time()
                outcome = await self.verifier.verify(rgb, self.references, self.verify_timeout_s,  # type: ignore[arg-type]
                                                     session_id=self.session_id, student_id=str(self.ctx.user_id))
                if self.metrics is not None:
                    self.metrics.verify_latency.observe(asyncio.get_running_loop().time() - started)
        self.last_outcome = outcome
        if self.metrics is not None:
            self.metrics.samples.inc()
            self.metrics.verdicts.labels(outcome.reason.value).inc()
        sample = Sample(at=at, reason=outcome.reason, score=outcome.score)
        update = self.session.record_sample(sample)
        await self._persist(update, sample)

    async def _persist(self, update: SessionUpdate, sample: Sample | None = None) -> None:
        async with self._write_lock:
            sid = self.session_id
            if update.credited is not None:
                c = update.credited
                if await self.ledger.append_interval(sid, c.seq, c.start, c.end) and self.metrics is not None:
                    self.metrics.credited.inc(c.end - c.start)
            for flag in update.raised:
                flag_id = await self.ledger.record_flag_raised(sid, flag.kind.value, flag.started_at)
                self.flag_ids[(flag.kind.value, flag.started_at)] = flag_id
                view = self._raised_view(flag_id, flag, await self._keep_evidence(flag_id))
                self._publish("flag_raised", flag=view.to_json())
            for flag in update.ended:
                assert flag.ended_at is not None
                await self.ledger.record_flag_ended(sid, flag.kind.value, flag.started_at, flag.ended_at)
                self._publish("flag_resolved", flag_id=self.flag_ids.get((flag.kind.value, flag.started_at)),
                              kind=flag.kind.value, ended_at=flag.ended_at)
            s = self.session
            state = SessionState(s.state, s.reason.value, s.samples_total, s.samples_verified)
            if sample is not None:  # the sample row and the new state commit together
                await self.ledger.record_sample(sid, sample.at, sample.reason.value, sample.score, state=state)
            else:
                await self.ledger.update_session_state(sid, *astuple(state))
        if update.state_changed:
            self._publish("state_changed", state=self.session.state, reason=self.session.reason.value)
        if update.credited is not None and self.events is not None:
            self.events.publish_credited(self.session_id, student=self.ctx.student,
                                         credited_seconds=round(self.session.credited_seconds, 3))
        self.send_status()

    def _raised_view(self, flag_id: int, flag: Flag, has_snapshot: bool) -> FlagView:
        """The flag as reviewers will list it, without a read back: it is open and nobody reviewed it."""
        student = self.ctx.student or {}  # built by student_json
        return FlagView(flag_id, self.session_id, self.ctx.user_id, cast("str | None", student.get("srn")),
                        str(student.get("name", "")), flag.kind.value, flag.started_at, has_snapshot=has_snapshot)

    async def _keep_evidence(self, flag_id: int) -> bool:
        """Store the frame that raised the flag (face boxes drawn); there is none for camera_lost."""
        rgb, outcome = self._last_rgb, self.last_outcome
        if self.evidence is None or rgb is None or outcome is None:
            return False
        try:
            jpeg = await asyncio.to_thread(annotated_jpeg, rgb, outcome.boxes)  # type: ignore[arg-type]
            return await self.evidence.store(flag_id, self.session_id, jpeg)
        except Exception:
            log.exception("could not keep evidence for flag %s", flag_id)
            return False

    def _publish(self, type_: str, **payload: object) -> None:
        if self.events is not None:
            self.events.publish(type_, session_id=self.session_id, student=self.ctx.student, **payload)

    def status(self) -> dict[str, object]:
        s = self.session
        return {"type": "status", "session_id": self.session_id, "state": s.state, "reason": s.reason.value,
                "credited_seconds": round(s.credited_seconds, 3),
                "module_credited_seconds": round(self.ctx.module_credited_before + s.credited_seconds, 3),
                "required_seconds": self.ctx.module_required,
                "samples": {"total": s.samples_total, "verified": s.samples_verified},
                "sampled_at": s.last_sample.at if s.last_sample is not None else None}

    def send_status(self) -> None:
        self._send(self.status())

    def _send(self, payload: dict[str, object]) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            with contextlib.suppress(Exception):  # a closing channel must not break the sampler
                channel.send(json.dumps(payload))

    def close_soon(self, reason: str) -> None:
        """End from a callback (connection state change) without awaiting there."""
        if self._closing is None:
            closer = self.registry.end(self, reason) if self.registry is not None else self.aclose(reason)
            self._closing = asyncio.get_running_loop().create_task(closer, name=f"close-{self.session_id}")
            if self.registry is not None:
                self.registry.track(self._closing)

    async def aclose(self, reason: str) -> None:
        """End crediting first, then persist the end, then tear down the media. Idempotent."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        update = self.session.end()
        try:
            await self._persist(update)
            await self.ledger.end_session(self.session_id, self.clock.now(), reason)
        except Exception:
            log.exception("could not persist the end of session %s", self.session_id)
        self._send({"type": "ended", "reason": reason})
        self._publish("session_ended", reason=reason)
        if self.events is not None:
            self.events.forget_session(self.session_id)
        if self.latest is not None:
            await self.latest.aclose()
        await self.pc.close()
        for t in self._owned:
            t.cancel()
        await asyncio.gather(*self._owned, return_exceptions=True)


class LiveRegistry:
    """The live streams of this node: at most one per student."""

    def __init__(self, on_end: Callable[[LiveStream], Awaitable[None]] | None = None) -> None:
        self._by_user: dict[int, LiveStream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_end = on_end  # e.g. close the proctors' views of that session

    def streams(self) -> list[LiveStream]:
        return list(self._by_user.values())

    async def _end_detached(self, stream: LiveStream, reason: str) -> None:
        await stream.aclose(reason)
        if self._on_end is not None:
            await self._on_end(stream)

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep a closing task referenced until done, and awaited at shutdown."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def get_for_user(self, user_id: int) -> LiveStream | None:
        return self._by_user.get(user_id)

    def get_session(self, session_id: str) -> LiveStream | None:
        return next((s for s in self._by_user.values() if s.session_id == session_id), None)

    def __len__(self) -> int:
        return len(self._by_user)

    async def add(self, stream: LiveStream) -> None:
        """Register a new stream; an older one of the same student ends as 'replaced'."""
        stream.registry = self
        old = self._by_user.get(stream.ctx.user_id)
        self._by_user[stream.ctx.user_id] = stream
        if old is not None:
            await old.aclose("replaced")

    async def end(self, stream: LiveStream, reason: str) -> None:
        if self._by_user.get(stream.ctx.user_id) is stream:
            del self._by_user[stream.ctx.user_id]
        await stream.aclose(reason)
        if self._on_end is not None:
            await self._on_end(stream)

    async def end_web_session(self, web_session_id: str, reason: str) -> None:
        for stream in [s for s in self._by_user.values() if s.ctx.web_session_id == web_session_id]:
            await self.end(stream, reason)

    async def end_user(self, user_id: int, reason: str) -> None:
        stream = self._by_user.get(user_id)
        if stream is not None:
            await self.end(stream, reason)

    async def aclose(self, reason: str = "server_shutdown") -> None:
        streams = list(self._by_user.values())
        self._by_user.clear()
        await asyncio.gather(*(self._end_detached(s, reason) for s in streams), return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
