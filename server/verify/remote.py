"""The media node's side of scale-out verification: samples go to Redis workers, verdicts come back.

`RedisVerifier` is a drop-in `FrameVerifier`: `verify()` publishes one job to `proctor:jobs` (wire
format in models/jobs.py) and awaits the verdict a worker XADDs to this node's own stream
`proctor:verdicts:<node_id>`. One reader task per node XREADs that stream and resolves waiters by
job id, accepting only verdicts signed with the cluster's shared secret (`redis_secret`).
Everything fails closed: a timeout, a Redis error or a worker's error code is
`verifier_unavailable`, exactly as with the in-process `LocalVerifier`.

Enrollment still needs a model on the node (it is rare and interactive), so an optional in-process
`LocalVerifier` handles `enroll`; without one, enrollment raises `VerifierError`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

import numpy as np

from models.aio import cancel_and_wait
from models.embedder import Embeddings
from models.engine import Engine
from models.enroll import Enrollment, vectors_from_bytes
from models.images import RGBImage
from models.jobs import (
    GROUP,
    JOBS_STREAM,
    REFS_MISSING,
    STREAM_MAXLEN,
    Fields,
    Job,
    JobError,
    WireVerdict,
    encode_frame,
    refs_key,
    refs_to_fields,
    refs_version,
    reply_stream,
    verdict_from_fields,
)
from models.worker import TRANSIENT, Backoff, redis_client, stream_entries
from proctor.credit import Reason

from .local import LocalVerifier
from .outcome import Outcome, outcome_from_verdict

log = logging.getLogger("proctor.redis_verifier")

REFS_TTL_S = 24 * 3600  # the node rewrites a student's references whenever it needs them again
UNAVAILABLE = Outcome(Reason.VERIFIER_UNAVAILABLE, None, 0)


class VerifierError(RuntimeError):
    """An operation this node cannot do (enrollment without a local engine)."""


@dataclass
class _Waiter:
    future: asyncio.Future[WireVerdict]
    scale: float  # sent/original width, to map boxes back onto the original frame
    refs: tuple[str, str]  # (student, version), forgotten if the worker lacks them


class RedisVerifier:
    """FrameVerifier over Redis Streams, plus what the routes use (`enroll`, `references_from_blobs`)."""

    def __init__(self, redis_url: str, *, secret: str, engine: Engine | None = None, model_name: str | None = None,
                 dim: int | None = None, node_id: str | None = None, block_ms: int = 1000) -> None:
        if engine is None and (model_name is None or dim is None):
            raise ValueError("give an engine, or both model_name and dim")
        if not secret:
            raise ValueError("redis_secret is required with Redis: verdicts are signed with it")
        self._secret = secret
        self.model_name: str = engine.model_name if engine is not None else str(model_name)
        self.dim: int = engine.spec.dim if engine is not None else int(dim or 0)
        # A fresh id per process: the reply stream starts empty, so reading it from 0 is exact.
        self.node_id = node_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.reply = reply_stream(self.node_id)
        self.redis_url = redis_url
        self.block_ms = block_ms
        self._redis = redis_client(redis_url)
        self._local = LocalVerifier(engine, max_batch_size=1, max_wait_ms=0) if engine is not None else None
        self._waiting: dict[str, _Waiter] = {}
        self._published: set[tuple[str, str]] = set()  # (student, version) known to be in Redis
        self._reader: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def start(self) -> None:
        if self.running:
            return
        if self._local is not None:
            await self._local.start()
        self._reader = asyncio.create_task(self._read_verdicts(), name=f"verdicts-{self.node_id}")

    async def aclose(self) -> None:
        reader, self._reader = self._reader, None
        await cancel_and_wait([reader])
        for waiter in self._waiting.values():
            waiter.future.cancel()  # their verify() calls answer verifier_unavailable
        if self._local is not None:
            await self._local.aclose()
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def stream_stats(self) -> tuple[int, int | None]:
        """(jobs in the stream, jobs not yet delivered to the worker group) for metrics/autoscaling."""
        length = int(await self._redis.xlen(JOBS_STREAM))
        lag: int | None = None
        for group in await self._redis.xinfo_groups(JOBS_STREAM):
            info = {k.decode() if isinstance(k, bytes) else str(k): v for k, v in group.items()}
            name = info.get("name")
            if name in (GROUP, GROUP.encode()):
                raw = info.get("lag")
                lag = int(raw) if raw is not None else None
        return length, lag

    # --- verification ---------------------------------------------------------------------------

    async def publish_references(self, student_id: str, references: Embeddings) -> str:
        """Write the student's reference hash (when a stream starts); returns its version."""
        version = refs_version(references)
        key = refs_key(self.model_name, student_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=refs_to_fields(references))  # type: ignore[arg-type]
            pipe.expire(key, REFS_TTL_S)
            await pipe.execute()
        self._published.add((student_id, version))
        return version

    async def verify(self, frame: RGBImage, references: Embeddings, timeout_s: float, *,
                     session_id: str = "", student_id: str | None = None) -> Outcome:
        """Fail closed: late, failed or impossible verification is `verifier_unavailable`."""
        if references.size == 0 or not self.running:
            return UNAVAILABLE
        deadline = time.time() + timeout_s
        refs = np.ascontiguousarray(references, dtype=np.float32)
        version = refs_version(refs)
        # Without a student id the content hash still names the references uniquely.
        student = student_id or f"anon-{version}"
        job_id = uuid.uuid4().hex
        try:
            async with asyncio.timeout(timeout_s):
                jpeg, scale = await asyncio.to_thread(encode_frame, frame)
                waiter = _Waiter(asyncio.get_running_loop().create_future(), scale, (student, version))
                self._waiting[job_id] = waiter  # before XADD: a fast worker may answer at once
                job = Job(job_id, session_id, student, self.model_name, version, deadline, self.reply, jpeg)
                await self._publish(job, refs)
                answer = await waiter.future
        except (TimeoutError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and self.running:
                raise  # our caller was cancelled, not us
            return UNAVAILABLE
        except Exception as exc:  # Redis down, a frame that will not encode: never end the session
            log.warning("verification via redis failed: %s", exc)
            return UNAVAILABLE
        finally:
            self._waiting.pop(job_id, None)
        if answer.verdict is None:
            log.info("worker answered %s for job %s", answer.error, job_id)
            return UNAVAILABLE
        return outcome_from_verdict(answer.verdict)

    async def _publish(self, job: Job, refs: Embeddings) -> None:
        """References (if Redis may lack them) then the job; retried until the caller's timeout."""
        backoff = Backoff()
        while True:
            try:
                if (job.student_id, job.refs_version) not in self._published:
                    await self.publish_references(job.student_id, refs)
                await self._redis.xadd(JOBS_STREAM, job.to_fields(),  # type: ignore[arg-type]
                                       maxlen=STREAM_MAXLEN, approximate=True)
                return
            except TRANSIENT as exc:
                # A pooled connection left dead by a Redis restart fails once even after
                # redis-py's own retries; the job is worth publishing while its deadline lasts.
                if time.time() >= job.deadline:
                    raise TimeoutError(f"job {job.job_id} not published before its deadline") from exc
                log.info("publishing job %s failed (%s); retrying", job.job_id, exc)
                self._published.clear()
                await backoff.sleep()

    async def _read_verdicts(self) -> None:
        last: bytes | str = "0-0"
        backoff = Backoff()
        while True:
            try:
                response = await self._redis.xread({self.reply: last}, count=256, block=self.block_ms)
            except TRANSIENT as exc:
                # Redis restarted (without persistence) or is unreachable: the reference hashes
                # may be gone too, so write them again before the next job that needs them.
                log.warning("redis unavailable (%s); reconnecting", exc)
                self._published.clear()
                await backoff.sleep()
                continue
            backoff.reset()
            for entry_id, fields in stream_entries(response):
                last = entry_id
                self._resolve(fields)

    def _resolve(self, fields: Fields) -> None:
        job_id = fields.get(b"job", b"").decode(errors="replace")
        waiter = self._waiting.get(job_id)
        if waiter is None or waiter.future.done():
            return  # already failed closed, or a duplicate from a reclaimed job
        try:
            answer = verdict_from_fields(fields, waiter.scale, secret=self._secret)
        except JobError as exc:  # malformed or forged: fail closed
            log.warning("rejected verdict for job %s: %s", job_id, exc)
            answer = WireVerdict(job_id, None, "bad_verdict")
        if answer.error == REFS_MISSING:
            self._published.discard(waiter.refs)  # rewrite them for the next sample
        waiter.future.set_result(answer)

    # --- what the routes use besides verify -----------------------------------------------------

    async def enroll(self, photos: list[bytes]) -> Enrollment:
        if self._local is None:
            raise VerifierError("this media node has no local engine; enrollment needs one")
        return await self._local.enroll(photos)

    def references_from_blobs(self, blobs: list[bytes]) -> Embeddings:
        return vectors_from_bytes(blobs, self.dim) if blobs else np.zeros((0, self.dim), np.float32)
