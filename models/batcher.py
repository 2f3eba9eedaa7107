"""Dynamic batching of verification requests from many streams into one inference call.

Callers `await batcher.verify(frame, references)`. Requests queue up; a batch is flushed when it
reaches `max_batch_size` or when its oldest request has waited `max_wait_ms`. The batch runs in a
single dedicated inference thread, so the event loop never runs the model; while it runs, new
requests accumulate into the next batch, which is what makes batching pay under load.

Semantics (after Ray Serve's `@serve.batch`): a caller cancelled before its batch runs is skipped;
results are set only on futures not already done; an exception from the whole batch reaches
every caller of that batch; the result count is checked against the request count.
The interface is transport-free: a Redis Streams worker drives the same object.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from .aio import cancel_and_wait
from .embedder import Embeddings
from .engine import Verdict, VerifyRequest
from .images import RGBImage

T = TypeVar("T")


class BatchModel(Protocol):
    """What the batcher drives: the real `Engine`, or a fake in unit tests."""

    def verify_batch(self, requests: list[VerifyRequest]) -> Sequence[Verdict | Exception]: ...


class BatcherClosed(RuntimeError):
    """The batcher is not running (not started, or shutting down)."""


@dataclass
class _Pending:
    """One caller waiting for its verdict."""

    request: VerifyRequest
    future: asyncio.Future[Verdict]
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class BatcherStats:
    """Counters for metrics and benchmarks."""

    batches: int = 0
    requests: int = 0
    skipped_cancelled: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)  # size → count
    queue_wait_s: list[float] = field(default_factory=list)  # bounded sample of waits
    inference_s: list[float] = field(default_factory=list)

    def record(self, size: int, waits: list[float], inference: float) -> None:
        self.batches += 1
        self.requests += size
        self.batch_sizes[size] = self.batch_sizes.get(size, 0) + 1
        self.queue_wait_s.extend(waits)
        self.inference_s.append(inference)
        del self.queue_wait_s[:-10_000], self.inference_s[:-10_000]  # keep memory flat


class Batcher:
    """Collects requests from many coroutines and runs them as batches in one thread."""

    def __init__(self, model: BatchModel, max_batch_size: int = 16, max_wait_ms: float = 20.0,
                 max_queue: int = 1024, on_batch: Callable[[int, float], None] | None = None) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        self.model = model
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.stats = BatcherStats()
        self.on_batch = on_batch  # (batch size, inference seconds), e.g. for a metrics histogram
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def queued(self) -> int:
        return self._queue.qsize() if self._queue else 0

    async def start(self) -> None:
        if self.running:
            return
        self._queue = asyncio.Queue(self.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proctor-inference")
        self._task = asyncio.create_task(self._run(), name="batcher")

    async def aclose(self) -> None:
        """Stop taking requests, fail the queued ones, wait for the running batch, free the thread."""
        task, self._task = self._task, None
        await cancel_and_wait([task])
        if self._queue is not None:
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if not pending.future.done():
                    pending.future.set_exception(BatcherClosed("verifier is shutting down"))
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True)

    async def verify(self, frame: RGBImage, references: Embeddings) -> Verdict:
        """Queue one frame and wait for its verdict. Cancel the await to give up on it."""
        if not self.running or self._queue is None:
            raise BatcherClosed("verifier is not running")
        loop = asyncio.get_running_loop()
        pending = _Pending(VerifyRequest(frame, np.asarray(references, dtype=np.float32)), loop.create_future())
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            raise BatcherClosed(f"verifier queue is full ({self.max_queue} waiting)") from None
        return await pending.future

    async def run_in_thread(self, fn: Callable[..., T], *args: object) -> T:
        """Run other model work (enrollment) on the inference thread, between batches."""
        if not self.running or self._executor is None:
            raise BatcherClosed("verifier is not running")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _collect(self, queue: asyncio.Queue[_Pending]) -> list[_Pending]:
        batch = [await queue.get()]
        deadline = batch[0].enqueued + self.max_wait_s
        while len(batch) < self.max_batch_size:
            try:
                batch.append(queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(self._queue)
            live = [p for p in batch if not p.future.done()]  # skip callers that gave up
            self.stats.skipped_cancelled += len(batch) - len(live)
            if not live:
                continue
            started = time.perf_counter()
            waits = [started - p.enqueued for p in live]
            try:
                results = await loop.run_in_executor(self._executor, self.model.verify_batch,
                                                     [p.request for p in live])
                if len(results) != len(live):
                    raise RuntimeError(f"model returned {len(results)} results for {len(live)} requests")
            except asyncio.CancelledError:
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(BatcherClosed("verifier is shutting down"))
                raise
            except Exception as exc:  # one failure reaches every caller of the batch
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            elapsed = time.perf_counter() - started
            self.stats.record(len(live), waits, elapsed)
            if self.on_batch is not None:
                self.on_batch(len(live), elapsed)
            for p, result in zip(live, results, strict=True):
                if p.future.done():
                    continue
                if isinstance(result, Exception):
                    p.future.set_exception(result)
                else:
                    p.future.set_result(result)
