"""One live stream per student: the peer connection, the sampler, the domain session and the page.

Each sample goes to the domain's `LiveSession`; its credited intervals, flags and state are
written by the recorder at once, then announced: dashboard events, metrics, and a status message
to the student on the data channel `control`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection

from models.aio import cancel_and_wait
from models.embedder import Embeddings
from models.snapshots import annotated_jpeg
from proctor.clock import Clock
from proctor.credit import CreditPolicy
from proctor.events import EventBus
from proctor.evidence import Evidence
from proctor.ledger import Ledger
from proctor.session import LiveSession, SessionUpdate
from proctor.session_records import FlagView
from proctor.users import student_json

from ..metrics import Metrics
from ..verify.outcome import FrameVerifier
from .ingest import FrameSource
from .recorder import SessionRecorder, Written
from .sampler import Sampler, SamplerConfig, Taken

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
    srn: str | None = None  # how proctors' events and flags name the student
    name: str = ""
    topic_title: str = ""
    earns_credit: bool = True  # False for an SPMT attempt's stream: proctored and flagged, never credited

    @property
    def student(self) -> dict[str, Any]:
        return student_json(self.user_id, self.srn, self.name)


@dataclass(frozen=True)
class StreamDeps:
    """What every live stream of a node shares; built once, when the app starts."""

    verifier: FrameVerifier
    ledger: Ledger
    clock: Clock
    policy: CreditPolicy
    verify_timeout_s: float  # a verdict later than this is verifier_unavailable
    events: EventBus
    evidence: Evidence
    metrics: Metrics


class LiveStream:
    """A student's live session: owns the peer connection, the frame drain and the sample loop."""

    def __init__(self, ctx: StreamContext, pc: RTCPeerConnection, latest: FrameSource, references: Embeddings,
                 deps: StreamDeps) -> None:
        self.ctx = ctx
        self.pc = pc
        self.latest = latest
        self.deps = deps
        self.session = LiveSession(ctx.session_id, deps.policy, deps.clock)
        self.sampler = Sampler(SamplerConfig(ctx.session_id, str(ctx.user_id), references, deps.verify_timeout_s),
                               latest, deps.verifier, deps.clock, deps.metrics)
        self.recorder = SessionRecorder(ctx.session_id, deps.ledger, earns_credit=ctx.earns_credit)
        self.started_at = deps.clock.now()
        self.channel: RTCDataChannel | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()  # visibility writes in flight
        self._owned: list[asyncio.Task[None]] = []  # e.g. audio drains, cancelled at close
        self._lock = asyncio.Lock()  # updates are written and announced in sample order
        self._closed = False

    @property
    def session_id(self) -> str:
        return self.ctx.session_id

    def start(self) -> None:
        self._publish("session_started", topic_id=self.ctx.topic_id, module_id=self.ctx.module_id)
        self.latest.start()
        self._task = asyncio.create_task(
            self.sampler.run(self.deps.policy.sample_interval_s, lambda: self.session.live, self._on_sample),
            name=f"sampler-{self.session_id}")

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
            task = asyncio.get_running_loop().create_task(self._apply(update), name=f"visibility-{self.session_id}")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def take_sample(self, interval: float) -> None:
        """Take one sample now and apply it (the loop does this every interval)."""
        await self._on_sample(await self.sampler.take(interval))

    async def _on_sample(self, taken: Taken) -> None:
        await self._apply(self.session.record_sample(taken.sample), taken)

    async def _apply(self, update: SessionUpdate, taken: Taken | None = None) -> None:
        async with self._lock:
            written = await self.recorder.write(update, self.session, taken.sample if taken else None)
            await self._announce_flags(written, taken)
        if written.credited_s:
            self.deps.metrics.credited.inc(written.credited_s)
        if update.state_changed:
            self._publish("state_changed", state=self.session.state, reason=self.session.reason.value)
        if update.credited is not None:
            self.deps.events.publish_credited(self.session_id, student=self.ctx.student,
                                              credited_seconds=round(self.session.credited_seconds, 3))
        self.send_status()

    async def _announce_flags(self, written: Written, taken: Taken | None) -> None:
        for flag, flag_id in written.raised:
            # As reviewers will list it, without a read back: just raised, so open and not reviewed.
            view = FlagView(flag_id, self.session_id, self.ctx.user_id, self.ctx.srn, self.ctx.name, flag.kind.value,
                            flag.started_at, has_snapshot=await self._keep_evidence(flag_id, taken))
            self._publish("flag_raised", flag=view.to_json())
        for flag, known_id in written.ended:
            self._publish("flag_resolved", flag_id=known_id, kind=flag.kind.value, ended_at=flag.ended_at)

    async def _keep_evidence(self, flag_id: int, taken: Taken | None) -> bool:
        """Store the frame that raised the flag (face boxes drawn); there is none for camera_lost."""
        if taken is None or taken.rgb is None:
            return False
        try:
            jpeg = await asyncio.to_thread(annotated_jpeg, taken.rgb, taken.outcome.boxes)
            return await self.deps.evidence.store(flag_id, self.session_id, jpeg)
        except Exception:
            log.exception("could not keep evidence for flag %s", flag_id)
            return False

    def _publish(self, type_: str, **payload: object) -> None:
        self.deps.events.publish(type_, session_id=self.session_id, student=self.ctx.student, **payload)

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

    async def aclose(self, reason: str) -> None:
        """End crediting first, then persist the end, then tear down the media. Idempotent."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        await cancel_and_wait([task])
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        try:
            await self._apply(self.session.end())
            await self.recorder.end(self.deps.clock.now(), reason)
        except Exception:
            log.exception("could not persist the end of session %s", self.session_id)
        self._send({"type": "ended", "reason": reason})
        self._publish("session_ended", reason=reason)
        self.deps.events.forget_session(self.session_id)
        await self.latest.aclose()
        await self.pc.close()
        await cancel_and_wait(self._owned)
