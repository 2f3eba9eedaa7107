"""Decoding untrusted photos on a small bounded pool of threads, apart from the inference thread.

Enrollment photos used to be decoded on the one inference thread, so a slow or large photo held up
every live verification on the node. Here at most `workers` photos decode at once, at most
`max_waiting` enrollments wait for a turn, and any more are refused at once (`PoolBusy`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class PoolBusy(RuntimeError):
    """Every decoding slot is taken and the queue is full: try again shortly."""


class DecodePool:
    def __init__(self, workers: int = 2, max_waiting: int = 8) -> None:
        if workers < 1 or max_waiting < 0:
            raise ValueError("workers must be >= 1 and max_waiting >= 0")
        self.workers = workers
        self.max_waiting = max_waiting
        self._executor: ThreadPoolExecutor | None = None
        self._admitted = 0

    async def start(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="decode")

    async def aclose(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # Queued decodes are dropped; running ones are bounded by the image limits.
            await asyncio.to_thread(executor.shutdown, True, cancel_futures=True)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args)` on the pool (e.g. `enroll.decode_photos`), or PoolBusy when it is full."""
        if self._executor is None:
            raise RuntimeError("DecodePool is not started")
        if self._admitted >= self.workers + self.max_waiting:
            raise PoolBusy("too many photos are being checked right now; try again in a moment")
        self._admitted += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        finally:
            self._admitted -= 1
