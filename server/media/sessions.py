"""Starting a student's live session: the one service the offer handler calls once the offer is answered.

A student has one live stream at a time, on this node and across the cluster: an older stream
ends as "replaced", and so does any session the shared ledger still has open for them. The new
stream's status line needs the module's credit before this session, so that is read first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.embedder import Embeddings
from proctor.activity import ActivityGate
from proctor.catalog import Module, Topic
from proctor.db import Database
from proctor.progress import credited_by_module

from ..cluster import ClusterBridge
from .ingest import LatestFrame
from .peer import AnsweredPeer
from .registry import LiveRegistry
from .stream import LiveStream, StreamContext, StreamDeps


@dataclass(frozen=True)
class Student:
    """Who is starting: their ids and how proctors' events name them."""

    user_id: int
    web_session_id: str  # the login that starts the stream: revoking it ends the stream
    srn: str | None
    name: str


class SessionStarter:
    """Opens the ledger session and starts its live stream."""

    def __init__(self, db: Database, deps: StreamDeps, registry: LiveRegistry, cluster: ClusterBridge | None) -> None:
        self.db = db  # the module's credit so far is read from the shared ledger's progress view
        self.deps = deps
        self.registry = registry
        self.cluster = cluster

    async def start(self, student: Student, module: Module, topic: Topic, peer: AnsweredPeer,
                    references: Embeddings, *, lesson_id: str | None = None,
                    activity: ActivityGate | None = None, earns_credit: bool = True) -> LiveStream:
        """`activity` is lesson mode's gate (credit needs a lesson playing); None keeps topic mode.
        `earns_credit` is False for an SPMT attempt's proctoring stream."""
        ledger, uid = self.deps.ledger, student.user_id
        old = self.registry.get_for_user(uid)
        if old is not None:
            await self.registry.end(old, "replaced")
        now = self.deps.clock.now()
        await ledger.end_open_sessions_for_user(uid, now, "replaced")  # e.g. on another node, or a crash
        before = (await credited_by_module(self.db, uid)).get(module.id, 0.0)
        session_id = await ledger.start_session(uid, topic.id, module.id, now, lesson_id=lesson_id)
        ctx = StreamContext(session_id, uid, topic.id, module.id, before, float(module.required_seconds),
                            student.web_session_id, student.srn, student.name, topic.title, lesson_id,
                            earns_credit)
        stream = LiveStream(ctx, peer.pc, LatestFrame(peer.video), references, self.deps, activity=activity)
        self._wire(stream)
        await self.registry.add(stream)
        if self.cluster is not None:
            await self.cluster.claim_stream(uid, session_id)  # ends the student's stream on any other node
        stream.start()
        for task in peer.drains:
            stream.track_task(task)
        return stream

    def _wire(self, stream: LiveStream) -> None:
        pc = stream.pc
        stream.on_give_up = lambda reason: self.registry.end_soon(stream, reason)
        stream.on_refused = lambda reason: self.registry.end_soon(stream, reason)  # the page hears why

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label == "control":
                stream.attach_channel(channel)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.registry.end_soon(stream, "connection_lost")
