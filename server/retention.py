"""The evidence retention job: snapshots older than the retention period are really deleted."""

from __future__ import annotations

import asyncio
import logging

from models.aio import cancel_and_wait
from proctor.evidence import Evidence

log = logging.getLogger("proctor.retention")


class RetentionJob:
    """Purges expired snapshots at start-up and then every `every_s` seconds."""

    def __init__(self, evidence: Evidence, every_s: float = 3600.0) -> None:
        self.evidence = evidence
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait([task])

    async def run_once(self) -> int:
        deleted = await self.evidence.purge()
        if deleted:
            log.info("deleted %d expired evidence snapshot(s)", deleted)
        return deleted

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a failed purge is retried at the next tick
                log.exception("evidence purge failed")
            await asyncio.sleep(self.every_s)
