"""Work a handler starts after it has answered: a bounded set of tasks, awaited on shutdown.

Used where the answer must not depend on the work: "send me a code" answers 202 at once, so how
long the lookup and the SMS take cannot tell a caller whether the SRN exists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from models.aio import cancel_and_wait

log = logging.getLogger("proctor.background")


class Background:
    """At most `limit` tasks at once; `aclose` lets them finish for `grace_s`, then cancels the rest."""

    def __init__(self, limit: int = 256, grace_s: float = 5.0) -> None:
        self.limit = limit
        self.grace_s = grace_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> bool:
        """Run `coro` in the background; False (and `coro` closed unrun) when full or closing."""
        if self._closed or len(self._tasks) >= self.limit:
            coro.close()
            return False
        task = asyncio.create_task(self._run(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    @staticmethod
    async def _run(coro: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await coro
        except Exception:
            log.exception("background task %s failed", name)

    async def drain(self) -> None:
        """Wait until every task started so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        self._closed = True
        if not self._tasks:
            return
        try:
            await asyncio.wait_for(self.drain(), self.grace_s)
        except TimeoutError:
            await cancel_and_wait(list(self._tasks))
