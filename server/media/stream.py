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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection

from models.aio import cancel_and_wait
from models.embedder import Embeddings
from models.snapshots import annotated_jpeg
from proctor.activity import ActivityGate
from proctor.clock import Clock
from proctor.credit import CreditPolicy
from proctor.events import EventBus
from proctor.evidence import Evidence
from proctor.ledger import Ledger, SessionEnded
from proctor.liveness import LivenessPolicy
from proctor.liveness_ledger import LivenessLedger
from proctor.provisional import ProvisionalCredit
from proctor.session import LiveSession, SessionUpdate
from proctor.session_records import FlagView
from proctor.users import student_json

from ..metrics import Metrics
from ..verify.outcome import FrameVerifier
from .challenges import ChallengeRelay
from .control import StreamLimits, TokenBucket
from .ingest import FrameSource
from .recorder import SessionRecorder, Written
from .sampler import Sampler, SamplerConfig, Taken

log = logging.getLogger("proctor.live")

# Ends that are not the student's: the node is going away (rolling update, scale-down). The page
# is told to reconnect (to another node, or to this one once it is back) instead of "ended".
RECONNECT_REASONS = frozenset({"server_shutdown"})


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
    lesson_id: str | None = None  # lesson mode: the lesson the offer named
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
    liveness: LivenessPolicy | None = None  # None: liveness off, every credited interval is final
    liveness_ledger: LivenessLedger | None = None
    limits: StreamLimits = field(default_factory=StreamLimits)


class LiveStream:
    """A student's live session: owns the peer connection, the frame drain and the sample loop."""

    def __init__(self, ctx: StreamContext, pc: RTCPeerConnection, latest: FrameSource, references: Embeddings,
                 deps: StreamDeps, *, activity: ActivityGate | None = None) -> None:
        self.ctx = ctx
        self.pc = pc
        self.latest = latest
        self.deps = deps
        gate = ProvisionalCredit(deps.liveness, deps.clock) if deps.liveness is not None else None
        self.session = LiveSession(ctx.session_id, deps.policy, deps.clock, liveness=gate, activity=activity)
        self.sampler = Sampler(SamplerConfig(ctx.session_id, str(ctx.user_id), references, deps.verify_timeout_s),
                               latest, deps.verifier, deps.clock, deps.metrics)
        self.recorder = SessionRecorder(ctx.session_id, deps.ledger, deps.liveness_ledger,
                                        earns_credit=ctx.earns_credit)
        self.challenges = ChallengeRelay(gate, self._send, self._publish) if gate is not None else None
        self.started_at = deps.clock.now()
        self.channel: RTCDataChannel | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()  # visibility writes in flight
        self._owned: list[asyncio.Task[None]] = []  # e.g. audio drains, cancelled at close
        self._lock = asyncio.Lock()  # updates are written and announced in sample order
        self._closed = False
        self._control = TokenBucket(deps.limits.control_rate_per_s, deps.limits.control_burst, deps.clock.now())
        self.on_give_up: Callable[[str], None] | None = None  # ends the stream (set by whoever registers it)
        self._refused = False  # the ledger refused a write: the session ended elsewhere
        # Ends this stream when the ledger refuses (set by whoever registered it).
        self.on_refused: Callable[[str], None] | None = None

    @property
    def session_id(self) -> str:
        return self.ctx.session_id

    def start(self) -> None:
        self._publish("session_started", topic_id=self.ctx.topic_id, module_id=self.ctx.module_id)
        self.latest.start()
        self._task = asyncio.create_task(self._sample_loop(), name=f"sampler-{self.session_id}")

    async def _sample_loop(self) -> None:
        gate = self.session.liveness
        connected = await self.sampler.run(
            self.deps.policy.sample_interval_s, lambda: self.session.live and not self._refused,
            self._on_sample, pace=gate.sample_period if gate is not None else None,
            connect_timeout_s=self.deps.limits.connect_timeout_s)
        if not connected and self.on_give_up is not None:
            self.on_give_up("never_connected")  # e.g. ICE stuck in "connecting": no frame ever came

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
        if not isinstance(data, dict):
            return
        if data.get("type") == "activity":
            lesson, playing = data.get("lesson_id"), data.get("playing")
            if isinstance(lesson, str) and isinstance(playing, bool):
                self.session.report_activity(lesson, playing)  # credit reads it at the next sample
            return
        if data.get("type") == "visibility" and isinstance(data.get("visible"), bool):
            if not self.session.live or data["visible"] == self.session.visible:
                return  # changes nothing: no write, no status
            update = self.session.set_visible(data["visible"])  # the domain always knows (in memory)
        elif data.get("type") == "camera" and isinstance(data.get("label"), str):
            update = self.session.camera_label(data["label"][:200])
        else:
            return
        if (not self._control.take(self.deps.clock.now())
                or len(self._pending) >= self.deps.limits.max_pending_writes):
            return  # a flood: its write rides on the next sample's
        task = asyncio.get_running_loop().create_task(self._apply(update), name=f"control-{self.session_id}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def take_sample(self, interval: float) -> None:
        """Take one sample now and apply it (the loop does this every interval)."""
        await self._on_sample(await self.sampler.take(interval))

    async def _on_sample(self, taken: Taken) -> None:
        if self.challenges is None:
            await self._apply(self.session.record_sample(taken.sample), taken)
            return
        yaw, change = self.challenges.measure(taken)
        await self._apply(self.session.record_sample(taken.sample, yaw=yaw, change=change), taken)

    async def _apply(self, update: SessionUpdate, taken: Taken | None = None) -> None:
        async with self._lock:
            if self._refused:
                return
            try:
                written = await self.recorder.write(update, self.session, taken.sample if taken else None)
            except SessionEnded as ended:
                # Ended on another node, taken over, or ended by a proctor: stop sampling and end
                # the media here; the ledger already holds the end and its reason.
                log.info("session %s ended elsewhere; stopping its stream", self.session_id)
                self._refused = True
                if self.on_refused is not None and not self._closed:
                    self.on_refused(ended.reason)
                return
            await self._announce_flags(written, taken)
        if written.credited_s:
            self.deps.metrics.credited.inc(written.credited_s)
        if update.state_changed:
            self._publish("state_changed", state=self.session.state, reason=self.session.reason.value)
        if update.liveness is not None and self.challenges is not None:
            self.challenges.announce(update.liveness)
        if update.credited is not None or (update.liveness is not None and update.liveness.confirmed):
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
                **(self.challenges.status() if self.challenges is not None else {}),
                "module_credited_seconds": round(self.ctx.module_credited_before + s.credited_seconds, 3),
                "required_seconds": self.ctx.module_required,
                "samples": {"total": s.samples_total, "verified": s.samples_verified},
                "sampled_at": s.last_sample.at if s.last_sample is not None else None,
                **({"lesson_id": s.activity.current} if s.activity is not None else {})}

    def ask_to_reconnect(self, reason: str = "server_shutdown") -> None:
        """Tell the page to reconnect elsewhere now; the stream goes on until the page leaves."""
        self._send({"type": "reconnect", "reason": reason})

    def send_status(self) -> None:
        self._send(self.status())

    def _send(self, payload: dict[str, object]) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            with contextlib.suppress(Exception):  # a closing channel must not break the sampler
                channel.send(json.dumps(payload))

    async def aclose(self, reason: str, *, by: int | None = None) -> None:
        """End crediting first, then persist the end (`by`: who ended it, if not the student), then
        tear down the media. Idempotent."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        await cancel_and_wait([task])
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        try:
            await self._apply(self.session.end())
            await self.recorder.end(self.deps.clock.now(), reason, by=by)
        except Exception:
            log.exception("could not persist the end of session %s", self.session_id)
        self._send({"type": "reconnect" if reason in RECONNECT_REASONS else "ended", "reason": reason})
        self._publish("session_ended", reason=reason)
        self.deps.events.forget_session(self.session_id)
        await self.latest.aclose()
        await self.pc.close()
        await cancel_and_wait(self._owned)
