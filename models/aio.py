"""Small asyncio helpers that the engine (batcher, worker) and the server share.

They live here because `server/` may import `models/` but not the other way round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel every task and wait until each has finished unwinding.

    Their own exceptions (including CancelledError) are swallowed: a component closing its tasks
    wants them gone, not their errors. A cancellation of the *caller* still propagates, because
    `gather` re-raises it (unlike `with suppress(CancelledError): await task`, which would eat it).
    The current task is never awaited on itself.
    """
    current = asyncio.current_task()
    pending = [t for t in tasks if t is not None and t is not current]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
