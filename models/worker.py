"""A verification worker: jobs from a Redis Stream through the same Batcher + Engine, verdicts back.

One worker per GPU. It reads `proctor:jobs` through the consumer group `workers` (XREADGROUP, COUNT =
batch size), drops jobs already past their deadline (the media node has failed them closed, so a
late verdict would only be noise), runs the rest through `Batcher`, and XADDs each verdict to the
job's reply stream *before* XACKing the job: a worker that dies between the two leaves the job
pending, so it is reclaimed (XAUTOCLAIM) rather than silently lost; a duplicate verdict is harmless
because the node ignores job ids it is not waiting for.

Delivery is at-least-once; correctness comes from deadlines, not from exactly-once: every job is
either answered before its deadline or failed closed by the node that sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .aio import cancel_and_wait
from .batcher import Batcher, BatcherClosed, BatchModel
from .embedder import Embeddings
from .images import ImageError
from .jobs import (
    BAD_JOB,
    ENGINE_ERROR,
    GROUP,
    JOBS_STREAM,
    REFS_MISSING,
    STREAM_MAXLEN,
    WRONG_MODEL,
    Fields,
    Job,
    JobError,
    deadline_of,
    refs_from_fields,
    refs_key,
    verdict_fields,
)

log = logging.getLogger("proctor.worker")

# Errors after which a loop backs off and retries: Redis restarting or unreachable.
TRANSIENT: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
REPLY_TTL_S = 3600  # a node that died leaves its verdict stream behind; let Redis reclaim it
REFS_CACHE_SIZE = 10_000  # (student, model) entries, ~1.5 KB each for 3 × 128-d


def redis_client(url: str) -> aioredis.Redis:
    """A client that retries a command a few times on a dropped connection (Redis restarting)."""
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=2.0, health_check_interval=10,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError])


class Backoff:
    """Jittered exponential delay for reconnect loops (redis-py's own retries come first)."""

    def __init__(self, initial: float = 0.05, cap: float = 2.0) -> None:
        self.initial, self.cap, self.current = initial, cap, initial

    async def sleep(self) -> None:
        # redis-py can turn a cancellation that lands inside its own connect timeout into a
        # connection or timeout error, which the retry loops catch. A cancelled task must still
        # stop: `asyncio.timeout` cancels only once, so a swallowed cancel would loop forever
        # (a node's verify past its timeout, a worker's aclose that never returns).
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        await asyncio.sleep(self.current * (0.5 + random.random() / 2))
        self.current = min(self.cap, self.current * 2)

    def reset(self) -> None:
        self.current = self.initial


def stream_entries(response: Any) -> list[tuple[bytes, Fields]]:
    """(id, fields) pairs from an XREAD/XREADGROUP reply, RESP2 (list) or RESP3 (dict) shaped."""
    if not response:
        return []
    groups = response.items() if isinstance(response, dict) else response
    out: list[tuple[bytes, Fields]] = []
    for _stream, entries in groups:
        for entry_id, fields in entries:
            out.append((entry_id, fields or {}))
    return out


@dataclass
class WorkerConfig:
    consumer: str
    batch_size: int = 16
    max_wait_ms: float = 20.0
    block_ms: int = 1000  # XREADGROUP BLOCK: how long an idle read waits before looping
    claim_idle_ms: int = 10_000  # XAUTOCLAIM min idle: ~2× the node's deadline budget
    claim_every_s: float | None = None  # default: half of claim_idle_ms

    @property
    def max_in_flight(self) -> int:
        # Two batches: one in inference while the next one fills.
        return 2 * self.batch_size


@dataclass
class WorkerStats:
    read: int = 0
    verdicts: int = 0
    expired: int = 0  # dropped past their deadline, no verdict
    errors: int = 0  # answered with an error code
    claimed: int = 0  # taken over from idle consumers by XAUTOCLAIM
    reconnects: int = 0


class Worker:
    """Consumes jobs with one model on one device until `aclose()`."""

    def __init__(self, model: BatchModel, model_name: str, dim: int, redis: aioredis.Redis,
                 config: WorkerConfig, *, secret: str | bytes) -> None:
        if not secret:
            raise ValueError("a worker needs the cluster's shared secret to sign its verdicts")
        self.model_name, self.dim, self.redis, self.config = model_name, dim, redis, config
        self._secret = secret
        self.batcher = Batcher(model, max_batch_size=config.batch_size, max_wait_ms=config.max_wait_ms)
        self.stats = WorkerStats()
        self._refs: OrderedDict[tuple[str, str], tuple[str, Embeddings]] = OrderedDict()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the group (creating it if missing) and start reading. Load weights *before* this."""
        await self.batcher.start()
        await self._ensure_group()  # fails loudly if Redis is unreachable at start
        self._tasks = [asyncio.create_task(self._read_loop(), name=f"worker-read-{self.config.consumer}"),
                       asyncio.create_task(self._claim_loop(), name=f"worker-claim-{self.config.consumer}")]

    async def wait(self) -> None:
        """Until a loop dies (it only does on an unexpected error, which is then raised)."""
        if self._tasks:
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()

    async def aclose(self) -> None:
        """Stop reading, abandon jobs in flight (they stay pending and are reclaimed), free the model."""
        tasks = self._tasks + list(self._in_flight)
        self._tasks = []
        await cancel_and_wait(tasks)
        await self.batcher.aclose()
        await self.redis.aclose()

    async def wait_until(self, predicate: Callable[[WorkerStats], bool], within_s: float) -> None:
        """Event-driven wait on the counters (tests, readiness probes); TimeoutError after within_s."""
        async with asyncio.timeout(within_s):
            while not predicate(self.stats):
                self._changed.clear()
                await self._changed.wait()

    def _bump(self, name: str, n: int = 1) -> None:
        setattr(self.stats, name, getattr(self.stats, name) + n)
        self._changed.set()

    # --- reading --------------------------------------------------------------------------------

    async def _ensure_group(self) -> None:
        # Start at "0", not "$": after a Redis restart a node may XADD before we recreate the group,
        # and those jobs must not be skipped. Old entries are cheap: expired ones are dropped unread.
        try:
            await self.redis.xgroup_create(JOBS_STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _wait_for_room(self) -> int:
        while len(self._in_flight) >= self.config.max_in_flight:
            self._room.clear()
            await self._room.wait()
        return self.config.max_in_flight - len(self._in_flight)

    async def _read_loop(self) -> None:
        backoff = Backoff()
        while True:
            room = await self._wait_for_room()
            try:
                response = await self.redis.xreadgroup(
                    GROUP, self.config.consumer, {JOBS_STREAM: ">"},
                    count=min(room, self.config.batch_size), block=self.config.block_ms)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Redis restarted without persistence: the stream and the group are gone.
                log.warning("consumer group missing; recreating it")
                try:
                    await self._ensure_group()
                except TRANSIENT:
                    await backoff.sleep()
                continue
            except TRANSIENT as exc:
                log.warning("redis unavailable (%s); retrying", exc)
                self._bump("reconnects")
                await backoff.sleep()
                continue
            backoff.reset()
            for entry_id, fields in stream_entries(response):
                self._spawn(entry_id, fields)

    async def _claim_loop(self) -> None:
        """Take over jobs a dead worker left pending; most are past their deadline and just acked."""
        every = self.config.claim_every_s or self.config.claim_idle_ms / 2000
        while True:
            await asyncio.sleep(every)  # a schedule, not synchronisation
            start: Any = "0-0"
            try:
                while True:
                    await self._wait_for_room()
                    reply = await self.redis.xautoclaim(
                        JOBS_STREAM, GROUP, self.config.consumer, min_idle_time=self.config.claim_idle_ms,
                        start_id=start, count=self.config.batch_size)
                    start, entries = reply[0], reply[1]
                    taken = [(i, f) for i, f in entries if f]  # None: entry trimmed away meanwhile
                    if taken:
                        log.info("reclaimed %d pending job(s)", len(taken))
                        self._bump("claimed", len(taken))
                    for entry_id, fields in taken:
                        self._spawn(entry_id, fields)
                    if start in (b"0-0", "0-0"):
                        break
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
            except TRANSIENT as exc:
                log.warning("redis unavailable during XAUTOCLAIM (%s)", exc)

    def _spawn(self, entry_id: bytes, fields: Fields) -> None:
        self._bump("read")
        task = asyncio.create_task(self._handle(entry_id, fields), name=f"job-{entry_id!r}")
        self._in_flight.add(task)
        task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._room.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("job handler failed: %r", exc)

    # --- one job --------------------------------------------------------------------------------

    async def _handle(self, entry_id: bytes, fields: Fields) -> None:
        deadline = deadline_of(fields)
        if deadline is None or deadline <= time.time():
            # Past its deadline the node has already answered verifier_unavailable: drop it unread.
            await self._ack(entry_id)
            self._bump("expired" if deadline is not None else "errors")
            return
        try:
            job = Job.from_fields(fields)
        except JobError as exc:
            log.warning("dropping malformed job %r: %s", entry_id, exc)
            await self._ack(entry_id)
            self._bump("errors")
            return
        if job.model != self.model_name:
            await self._answer(entry_id, job, None, WRONG_MODEL)
            return
        try:
            refs = await self._references(job)
        except TRANSIENT as exc:
            log.warning("cannot read references for job %s: %s", job.job_id, exc)
            return  # left pending: the deadline or a reclaim settles it
        if refs is None:
            await self._answer(entry_id, job, None, REFS_MISSING)
            return
        try:
            frame = await asyncio.to_thread(job.decode_frame)
        except ImageError:
            await self._answer(entry_id, job, None, BAD_JOB)
            return
        try:
            verdict = await asyncio.wait_for(self.batcher.verify(frame, refs), job.deadline - time.time())
        except TimeoutError:
            await self._ack(entry_id)
            self._bump("expired")
            return
        except (BatcherClosed, ImageError, ValueError, RuntimeError) as exc:
            log.warning("job %s failed: %s", job.job_id, exc)
            await self._answer(entry_id, job, None, ENGINE_ERROR)
            return
        await self._answer(entry_id, job, verdict, "")

    async def _references(self, job: Job) -> Embeddings | None:
        """Cached by (student, model) holding one version: a new version replaces the stale one."""
        key = (job.student_id, job.model)
        cached = self._refs.get(key)
        if cached is not None and cached[0] == job.refs_version:
            self._refs.move_to_end(key)
            return cached[1]
        fields: Fields = await self.redis.hgetall(refs_key(job.model, job.student_id))  # type: ignore[assignment]
        if not fields:
            return None
        try:
            version, vectors = refs_from_fields(fields, self.dim)
        except JobError as exc:
            log.warning("bad reference hash for %s: %s", job.student_id, exc)
            return None
        if version != job.refs_version:
            return None  # the node re-enrolled mid-flight or the hash is older: fail closed
        self._refs[key] = (version, vectors)
        self._refs.move_to_end(key)
        while len(self._refs) > REFS_CACHE_SIZE:
            self._refs.popitem(last=False)
        return vectors

    async def _answer(self, entry_id: bytes, job: Job, verdict: Any, error: str) -> None:
        """XADD the verdict, then XACK: never acknowledge a job whose answer may be lost."""
        backoff = Backoff()
        while True:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xadd(job.reply, verdict_fields(job.job_id, verdict, error, secret=self._secret),  # type: ignore[arg-type]
                              maxlen=STREAM_MAXLEN, approximate=True)
                    pipe.expire(job.reply, REPLY_TTL_S)
                    await pipe.execute()
                break
            except TRANSIENT as exc:
                # A pooled connection that died with a Redis restart fails once; the verdict is
                # still worth sending until the node's deadline, so retry rather than leave it to
                # XAUTOCLAIM (which comes after the deadline, when the answer is useless).
                if time.time() >= job.deadline:
                    log.warning("verdict for job %s missed its deadline (%s)", job.job_id, exc)
                    self._bump("expired")
                    await self._ack(entry_id)  # the node has failed it closed; nothing is lost
                    return
                await backoff.sleep()
            except RedisError as exc:
                log.warning("cannot send verdict for job %s (%s); leaving it pending", job.job_id, exc)
                return
        self._bump("errors" if error else "verdicts")
        await self._ack(entry_id)

    async def _ack(self, entry_id: bytes) -> None:
        with contextlib.suppress(RedisError):  # unacked → reclaimed later, then dropped as expired
            await self.redis.xack(JOBS_STREAM, GROUP, entry_id)
