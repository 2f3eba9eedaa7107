"""Scale-out verification: media node (RedisVerifier) ⇄ Redis Streams ⇄ workers, against real redis-server.

Each test starts its own redis-server (tests/redis_server.py). Workers run in-process on the
session engine, except where a process must die (kill -9) or fail at start (corrupt weights).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from bench.redis_server import RedisServer
from models import weights
from models.aio import cancel_and_wait
from models.detector import FaceBox
from models.engine import Engine, Verdict
from models.frames import photo_to_frame
from models.jobs import (
    GROUP,
    JOBS_STREAM,
    Job,
    JobError,
    encode_frame,
    refs_version,
    verdict_fields,
    verdict_from_fields,
)
from models.worker import TRANSIENT, Backoff, Worker, WorkerConfig, redis_client
from proctor.credit import Reason
from server.verify.remote import RedisVerifier

from .helpers import REDIS_SECRET

REPO = Path(__file__).resolve().parent.parent
S = REDIS_SECRET

if not RedisServer.available():  # make test installs it; a missing server is a failure, never a skip
    raise RuntimeError("redis-server is not installed; run make test (scripts/setup_system.sh installs it)")


@pytest.fixture
def redis_srv(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def admin(redis_srv: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_srv.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def node(redis_srv: RedisServer, engine: Engine) -> AsyncIterator[RedisVerifier]:
    v = RedisVerifier(redis_srv.url, secret=REDIS_SECRET, model_name=engine.model_name, dim=engine.spec.dim)
    await v.start()
    try:
        yield v
    finally:
        await v.aclose()


def make_worker(engine: Engine, url: str, name: str = "w1", **config: Any) -> Worker:
    return Worker(engine, engine.model_name, engine.spec.dim, redis_client(url),
                  WorkerConfig(consumer=name, **config), secret=REDIS_SECRET)


async def pending_count(admin: aioredis.Redis) -> int:
    summary = await admin.xpending(JOBS_STREAM, GROUP)
    return int(summary["pending"])


async def poll(predicate: Any, within_s: float) -> None:
    """Bounded poll for state only another process can change (Redis, a child's exit)."""
    async with asyncio.timeout(within_s):
        while not await predicate():  # noqa: ASYNC110 - no event crosses the process boundary
            await asyncio.sleep(0.02)


# --- the wire format --------------------------------------------------------------------------------


def test_job_and_verdict_round_trip_and_boxes_map_back_to_the_original_frame() -> None:
    frame = np.full((960, 1280, 3), 100, np.uint8)
    jpeg, scale = encode_frame(frame)
    assert scale == 0.5 and jpeg[:2] == b"\xff\xd8"
    job = Job("j1", "s1", "MAD001", "facenet-msceleb-128", "abc", 1.5e9, "proctor:verdicts:n", jpeg)
    back = Job.from_fields({k.encode(): v for k, v in job.to_fields().items()})
    assert back == job and back.decode_frame().shape == (480, 640, 3)
    verdict = Verdict(faces=1, score=0.81, match=True, reason="ok", boxes=(FaceBox((10.0, 20.0, 110.0, 140.0), 0.99),))
    wire = verdict_from_fields({k.encode(): v for k, v in verdict_fields("j1", verdict, secret=S).items()}, scale,
                               secret=S)
    assert wire.verdict is not None and wire.verdict.boxes[0].box == (20.0, 40.0, 220.0, 280.0)
    assert (wire.verdict.reason, wire.verdict.score, wire.verdict.match) == ("ok", 0.81, True)
    assert wire.verdict.boxes[0].landmarks == ()  # none sent, none invented
    # Landmarks travel too (liveness reads head yaw from them), scaled back like the box.
    marks = ((30.0, 50.0), (70.0, 50.0), (55.0, 80.0), (35.0, 110.0), (65.0, 110.0))
    turned = Verdict(faces=1, score=0.81, match=True, reason="ok",
                     boxes=(FaceBox((10.0, 20.0, 110.0, 140.0), 0.99, marks),))
    wire = verdict_from_fields({k.encode(): v for k, v in verdict_fields("j3", turned, secret=S).items()}, scale,
                               secret=S)
    assert wire.verdict is not None and wire.verdict.boxes[0].landmarks == tuple((x * 2, y * 2) for x, y in marks)
    failed_fields = verdict_fields("j2", None, "refs_missing", secret=S)
    failed = verdict_from_fields({k.encode(): v for k, v in failed_fields.items()}, secret=S)
    assert failed.verdict is None and failed.error == "refs_missing"
    refs = np.ones((2, 4), np.float32)
    assert refs_version(refs) == refs_version(refs.copy()) != refs_version(refs * 2)


def test_a_forged_or_unsigned_verdict_is_refused_and_a_job_cannot_name_any_reply_key() -> None:
    verdict = Verdict(faces=1, score=0.99, match=True, reason="ok", boxes=())
    signed = {k.encode(): v for k, v in verdict_fields("j1", verdict, secret=S).items()}
    assert verdict_from_fields(signed, secret=S).verdict == verdict
    unsigned = {k: v for k, v in signed.items() if k != b"sig"}
    with pytest.raises(JobError, match="signature"):
        verdict_from_fields(unsigned, secret=S)  # what anyone with Redis access could XADD
    with pytest.raises(JobError, match="signature"):
        verdict_from_fields(signed, secret="another secret")
    mismatch = {k.encode(): v for k, v in verdict_fields("j2", None, "refs_missing", secret=S).items()}
    for name, value in ((b"job", b"j2"), (b"match", b"0"), (b"score", b"0.5"), (b"reason", b"mismatch")):
        tampered = {**signed, name: value} if name != b"job" else {**mismatch, b"job": b"j1"}
        with pytest.raises(JobError):
            verdict_from_fields(tampered, secret=S)
    job = Job("j1", "s1", "MAD001", "m", "abc", 1.5e9, "proctor:verdicts:n", b"\xff\xd8")
    for reply in ("proctor:refs:m:MAD001", "somekey", "proctor:verdicts:", "proctor:verdicts:*"):
        fields = {**{k.encode(): v for k, v in job.to_fields().items()}, b"reply": reply.encode()}
        with pytest.raises(JobError, match="reply"):
            Job.from_fields(fields)


async def test_a_forged_verdict_in_redis_fails_the_sample_closed(
        node: RedisVerifier, admin: aioredis.Redis, photos: Any, references: Any) -> None:
    """A process that can reach Redis but lacks the secret answers every job 'ok': the node refuses."""
    forger_ready = asyncio.Event()

    async def forger() -> None:
        await admin.xgroup_create(JOBS_STREAM, "forgers", id="0", mkstream=True)
        forger_ready.set()
        response = await admin.xreadgroup("forgers", "f", {JOBS_STREAM: ">"}, count=1, block=20_000)
        for _stream, entries in response:
            for _id, fields in entries:
                job = Job.from_fields(fields)
                forged = {"job": job.job_id, "reason": "ok", "match": "1", "faces": "1", "score": "0.99",
                          "boxes": "[]", "error": "", "sig": "0" * 64}
                await admin.xadd(job.reply, forged)  # type: ignore[arg-type]

    task = asyncio.create_task(forger(), name="forger")
    try:
        await forger_ready.wait()
        outcome = await node.verify(photo_to_frame(photos["ben_afflek"][0]), references["madonna"], 3.0,
                                    student_id="MAD001")
        await task
    finally:
        await cancel_and_wait([task])
    assert outcome.reason is Reason.VERIFIER_UNAVAILABLE  # not "ok": the forged verdict was dropped


# --- (a) end to end ---------------------------------------------------------------------------------


async def test_a_worker_verifies_the_owner_and_rejects_an_impostor(
        node: RedisVerifier, redis_srv: RedisServer, engine: Engine, photos: Any, references: Any) -> None:
    worker = make_worker(engine, redis_srv.url, batch_size=4)
    await worker.start()
    try:
        madonna = photo_to_frame(photos["madonna"][0])
        wide = photo_to_frame(photos["madonna"][0], size=(1280, 960))  # sent downscaled to 640 px
        owner, impostor, big = await asyncio.gather(
            node.verify(madonna, references["madonna"], 30.0, session_id="s1", student_id="MAD001"),
            node.verify(madonna, references["ben_afflek"], 30.0, session_id="s2", student_id="BEN001"),
            node.verify(wide, references["madonna"], 30.0, session_id="s1", student_id="MAD001"))
        # The node sees a verdict as soon as it is XADDed; the worker counts it just after, so wait
        # for the counters before closing (aclose abandons whatever is still in flight).
        await worker.wait_until(lambda st: st.verdicts + st.errors + st.expired >= 3, 10)
    finally:
        await worker.aclose()
    assert owner.reason is Reason.OK and owner.faces == 1 and owner.score is not None
    assert impostor.reason is Reason.MISMATCH
    assert big.reason is Reason.OK and big.boxes and big.boxes[0][2] > 640  # boxes in the original frame
    assert worker.stats.verdicts == 3 and worker.stats.expired == 0


# --- (b) past the deadline --------------------------------------------------------------------------


async def test_a_job_past_its_deadline_is_dropped_without_a_verdict(
        node: RedisVerifier, redis_srv: RedisServer, admin: aioredis.Redis, engine: Engine,
        photos: Any, references: Any) -> None:
    frame = photo_to_frame(photos["madonna"][0])
    # No worker yet: the node fails the sample closed at its deadline.
    outcome = await node.verify(frame, references["madonna"], 0.2, student_id="MAD001")
    assert outcome.reason is Reason.VERIFIER_UNAVAILABLE
    worker = make_worker(engine, redis_srv.url)
    await worker.start()
    try:
        await worker.wait_until(lambda s: s.expired >= 1, 30)
    finally:
        await worker.aclose()
    assert worker.stats.verdicts == 0 and worker.stats.expired == 1
    assert await admin.xlen(node.reply) == 0  # no verdict was sent
    assert await pending_count(admin) == 0  # but the job was acknowledged


# --- (c) a worker killed mid-batch -------------------------------------------------------------------


async def test_jobs_of_a_killed_worker_are_reclaimed_and_none_is_lost(
        node: RedisVerifier, redis_srv: RedisServer, admin: aioredis.Redis, engine: Engine,
        photos: Any, references: Any) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "worker", "--redis-url", redis_srv.url, "--device", "cpu",
        "--consumer", "doomed", "--batch-size", "2", "--claim-idle-ms", "600000",
        cwd=REPO, env={**os.environ, "PROCTOR_REDIS_SECRET": REDIS_SECRET},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    survivor: Worker | None = None
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(120):
            line = await proc.stderr.readline()  # the worker says "ready" once it joined the group
        assert b"ready" in line, line
        frames = [photo_to_frame(photos["madonna"][i % len(photos["madonna"])], shift=(i, 0)) for i in range(6)]
        calls = [asyncio.create_task(node.verify(f, references["madonna"], 20.0, student_id="MAD001"))
                 for f in frames]

        async def doomed_holds_jobs() -> bool:
            return await pending_count(admin) > 0

        await poll(doomed_holds_jobs, 30)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        survivor = make_worker(engine, redis_srv.url, name="survivor", claim_idle_ms=300, claim_every_s=0.2)
        await survivor.start()
        async with asyncio.timeout(60):  # verify() is bounded by its own 20 s; this only guards a hang
            outcomes = await asyncio.gather(*calls)
        assert {o.reason for o in outcomes} <= {Reason.OK, Reason.VERIFIER_UNAVAILABLE}
        assert survivor.stats.claimed >= 1  # the dead worker's pending jobs were taken over

        async def nothing_pending() -> bool:
            return await pending_count(admin) == 0

        await poll(nothing_pending, 30)
        again = await node.verify(frames[0], references["madonna"], 20.0, student_id="MAD001")
        assert again.reason is Reason.OK  # the pool goes on
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()
        if survivor is not None:
            await survivor.aclose()


async def test_a_retry_loop_stops_when_redis_py_swallows_its_cancellation() -> None:
    """redis-py may turn a cancel that lands in its connect timeout into a connection error, which
    the retry loops catch; `asyncio.timeout` cancels once, so the backoff must notice the cancel."""
    backoff = Backoff(initial=0.001, cap=0.001)

    async def connect() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RedisConnectionError("Connection closed by server.") from None  # the cancel is gone

    async def retry_loop() -> None:
        async with asyncio.timeout(0.05):
            while True:
                try:
                    await connect()
                except TRANSIENT:
                    await backoff.sleep()

    task = asyncio.create_task(retry_loop())
    done, _ = await asyncio.wait({task}, timeout=10)
    assert task in done, "the loop went on retrying after its timeout"
    with pytest.raises(TimeoutError):
        task.result()


# --- (d) Redis restarts -----------------------------------------------------------------------------


async def test_node_and_worker_reconnect_after_redis_restarts(
        node: RedisVerifier, redis_srv: RedisServer, engine: Engine, photos: Any, references: Any) -> None:
    frame = photo_to_frame(photos["madonna"][0])
    worker = make_worker(engine, redis_srv.url)
    await worker.start()
    try:
        first = await node.verify(frame, references["madonna"], 20.0, student_id="MAD001")
        assert first.reason is Reason.OK
        await asyncio.to_thread(redis_srv.stop)
        # While Redis is down the node fails closed within the timeout; nothing hangs.
        down = await node.verify(frame, references["madonna"], 1.0, student_id="MAD001")
        assert down.reason is Reason.VERIFIER_UNAVAILABLE
        await asyncio.to_thread(redis_srv.start)  # same port, empty: no stream, group or references
        reasons = []
        for _ in range(10):  # each try is bounded by its timeout; the first may find references gone
            outcome = await node.verify(frame, references["madonna"], 10.0, student_id="MAD001")
            reasons.append(outcome.reason)
            if outcome.reason is Reason.OK:
                break
        assert reasons[-1] is Reason.OK, reasons
        assert set(reasons[:-1]) <= {Reason.VERIFIER_UNAVAILABLE}
    finally:
        await worker.aclose()


# --- (e) corrupt weights ----------------------------------------------------------------------------


async def test_a_worker_with_corrupt_weights_exits_2_and_consumes_nothing(
        node: RedisVerifier, redis_srv: RedisServer, admin: aioredis.Redis, engine: Engine,
        photos: Any, references: Any, tmp_path: Path) -> None:
    spec = weights.spec_for(weights.DEFAULT_MODEL)
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    bad = home / "models" / spec.path.name
    shutil.copyfile(spec.path, bad)
    shutil.copyfile(spec.path.with_suffix(".sha256.json"), bad.with_suffix(".sha256.json"))
    with bad.open("r+b") as fh:
        fh.seek(4096)
        byte = fh.read(1)
        fh.seek(4096)
        fh.write(bytes([byte[0] ^ 0xFF]))
    await admin.xgroup_create(JOBS_STREAM, GROUP, id="0", mkstream=True)
    outcome = await node.verify(photo_to_frame(photos["madonna"][0]), references["madonna"], 0.1,
                                student_id="MAD001")
    assert outcome.reason is Reason.VERIFIER_UNAVAILABLE
    assert await admin.xlen(JOBS_STREAM) == 1  # a job is waiting to be consumed
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "worker", "--redis-url", redis_srv.url, "--device", "cpu",
        cwd=REPO, env={**os.environ, "PROCTOR_HOME": str(home), "PROCTOR_REDIS_SECRET": REDIS_SECRET},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(120):
        _out, err = await proc.communicate()
    assert proc.returncode == 2, err
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "sha256" in lines[0], lines
    (group,) = await admin.xinfo_groups(JOBS_STREAM)
    assert group["consumers"] == 0 and group["pending"] == 0
    assert group["last-delivered-id"] in (b"0-0", "0-0")
