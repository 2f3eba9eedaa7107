"""The sampler fails closed: no frame, a stale frame, a late or broken verifier earn nothing.

Unit tests of the code around the verifier boundary, on a fake clock and a real SQLite ledger;
tests/test_live_session.py runs the same path with real aiortc streams and the real engine.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection

from models.engine import Verdict, VerifyRequest
from proctor.clock import FakeClock
from proctor.credit import CreditPolicy, Reason
from proctor.db import Database
from proctor.events import EventBus
from proctor.evidence import Evidence
from proctor.ledger import Ledger
from proctor.session_records import session_record
from server.media.stream import LiveStream, StreamContext, StreamDeps
from server.metrics import Metrics
from server.verify.local import LocalVerifier

REFS = np.ones((1, 128), np.float32) / np.sqrt(128)


class FakeEngine:
    """Stands in for models.engine.Engine at the batcher boundary."""

    model_name = "facenet-msceleb-128"
    spec = SimpleNamespace(dim=128)

    def __init__(self) -> None:
        self.reason = "ok"
        self.hold: threading.Event | None = None
        self.fail = False

    def verify_batch(self, requests: list[VerifyRequest]) -> list[Verdict]:
        if self.hold is not None:
            self.hold.wait(10)
        if self.fail:
            raise RuntimeError("model crashed")
        return [Verdict(faces=1, score=0.9, match=self.reason == "ok", reason=self.reason) for _ in requests]


class FakeLatest:
    """The newest frame and its age, as server.ingest.LatestFrame reports them."""

    def __init__(self) -> None:
        self.frame: av.VideoFrame | None = None
        self._age: float | None = None
        self.first_frame = asyncio.Event()

    def show(self, age: float = 0.1) -> None:
        self.frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
        self._age = age

    def age(self) -> float | None:
        return self._age

    def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class Channel:
    readyState = "open"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, data: str) -> None:
        self.sent.append(json.loads(data))

    def on(self, _event: str) -> Any:
        return lambda fn: fn


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[SimpleNamespace]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'p.db'}")
    await db.migrate()
    ledger = Ledger(db)
    from proctor.students import Students

    uid = await Students(db).add_student("S1", "S", None, None)
    clock = FakeClock(1000.0)
    sid = await ledger.start_session(uid, "t", "m", clock.now())
    engine = FakeEngine()
    verifier = LocalVerifier(engine, max_batch_size=4, max_wait_ms=0)  # type: ignore[arg-type]
    await verifier.start()
    latest = FakeLatest()
    deps = StreamDeps(verifier, ledger, clock, CreditPolicy(sample_interval_s=3.0, max_gap_s=7.5), 0.2,
                      EventBus(clock=clock), Evidence(db, clock, 3600.0), Metrics())
    stream = LiveStream(StreamContext(sid, uid, "t", "m", 0.0, 144000.0), RTCPeerConnection(), latest,  # type: ignore[arg-type]
                        REFS, deps)
    channel = Channel()
    stream.attach_channel(channel)  # type: ignore[arg-type]
    yield SimpleNamespace(stream=stream, clock=clock, latest=latest, engine=engine, db=db, channel=channel)
    if engine.hold is not None:
        engine.hold.set()
    await stream.aclose("test_over")
    await verifier.aclose()
    await db.aclose()


async def sample(rig: SimpleNamespace, advance: float = 3.0) -> dict[str, Any]:
    rig.clock.advance(advance)
    await rig.stream.take_sample(3.0)
    return rig.channel.sent[-1]


async def test_good_samples_credit_and_every_failure_mode_fails_closed(rig: SimpleNamespace) -> None:
    assert (await sample(rig))["reason"] == "camera_lost"  # no frame yet
    rig.latest.show()
    await sample(rig)
    status = await sample(rig)
    assert status["state"] == "verified" and status["credited_seconds"] == 3.0

    rig.latest.show(age=3.5)  # frozen stream: the newest frame is older than one interval
    status = await sample(rig)
    assert status["reason"] == "camera_lost" and status["credited_seconds"] == 3.0

    rig.latest.show()
    rig.engine.fail = True  # the model raises: the student sees why, nothing is credited
    status = await sample(rig)
    assert status["reason"] == "verifier_unavailable" and status["credited_seconds"] == 3.0

    rig.engine.fail = False
    rig.engine.hold = threading.Event()  # the verifier is late past the deadline
    status = await sample(rig)
    assert status["reason"] == "verifier_unavailable" and status["credited_seconds"] == 3.0
    rig.engine.hold.set()
    rig.engine.hold = None

    await sample(rig)  # ok again, but the previous sample failed: no credit for that interval
    status = await sample(rig)
    assert status["state"] == "verified" and status["credited_seconds"] == 6.0
    stored = await session_record(rig.db, rig.stream.session_id)
    assert stored.credited_seconds == 6.0 and stored.samples_total == 8 and stored.samples_verified == 4


async def test_hidden_page_stops_credit(rig: SimpleNamespace) -> None:
    rig.latest.show()
    await sample(rig)
    rig.stream.on_control(json.dumps({"type": "visibility", "visible": False}))
    rig.stream.on_control("not json")  # a bad client message is ignored
    rig.stream.on_control(json.dumps({"type": "visibility", "visible": "no"}))
    status = await sample(rig)
    assert status["reason"] == "tab_hidden" and status["credited_seconds"] == 0


async def test_mismatch_three_times_raises_a_flag(rig: SimpleNamespace) -> None:
    rig.latest.show()
    rig.engine.reason = "mismatch"
    for _ in range(3):
        status = await sample(rig)
    assert status["reason"] == "mismatch"
    stored = await session_record(rig.db, rig.stream.session_id)
    assert [f.kind for f in stored.flags] == [Reason.MISMATCH.value] and stored.credited_seconds == 0
