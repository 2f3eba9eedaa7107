"""The in-process verifier: the engine behind the dynamic batcher (the embedded default)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np

from models.batcher import Batcher
from models.decode_pool import DecodePool
from models.embedder import Embeddings
from models.engine import Engine
from models.enroll import Enrollment, decode_photos, enroll_frames, vectors_from_bytes
from models.images import MAX_DECODED_BYTES, RGBImage
from proctor.credit import Reason

from .outcome import Outcome, outcome_from_verdict

log = logging.getLogger("proctor.verifier")


class LocalVerifier:
    """The in-process engine + batcher (the embedded default; Redis workers come later)."""

    def __init__(self, engine: Engine, max_batch_size: int, max_wait_ms: float,
                 on_batch: Callable[[int, float], None] | None = None, decode_pool: DecodePool | None = None,
                 max_decoded_bytes: int = MAX_DECODED_BYTES) -> None:
        self.engine = engine
        self.decode_pool = decode_pool or DecodePool()
        self.max_decoded_bytes = max_decoded_bytes
        self.model_name = engine.model_name
        self.dim = engine.spec.dim
        self.batcher = Batcher(engine, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, on_batch=on_batch)

    async def start(self) -> None:
        await self.decode_pool.start()
        await self.batcher.start()

    async def aclose(self) -> None:
        await self.batcher.aclose()
        await self.decode_pool.aclose()

    async def ping(self) -> bool | None:
        return None  # nothing outside this process to reach

    async def stream_stats(self) -> tuple[int, int | None] | None:
        return None  # no job stream in-process

    async def verify(self, frame: RGBImage, references: Embeddings, timeout_s: float, *,
                     session_id: str = "", student_id: str | None = None) -> Outcome:
        """Fail closed: late, failed or impossible verification is `verifier_unavailable`."""
        if references.size == 0:
            return Outcome(Reason.VERIFIER_UNAVAILABLE, None, 0)
        try:
            verdict = await asyncio.wait_for(self.batcher.verify(frame, references), timeout_s)
        except TimeoutError:
            return Outcome(Reason.VERIFIER_UNAVAILABLE, None, 0)
        except Exception as exc:  # a bad frame or a model failure never ends the session
            log.warning("verification failed: %s", exc)
            return Outcome(Reason.VERIFIER_UNAVAILABLE, None, 0)
        return outcome_from_verdict(verdict)

    async def enroll(self, photos: list[bytes]) -> Enrollment:
        """Photos decode on the small decode pool (untrusted, possibly slow: never on the inference
        thread, which every live verification needs); only the model work runs on that thread.
        Raises EnrollmentError, or models.decode_pool.PoolBusy when the pool is full."""
        frames = await self.decode_pool.run(decode_photos, photos, self.max_decoded_bytes)
        return await self.batcher.run_in_thread(enroll_frames, self.engine, frames, photos)

    def references_from_blobs(self, blobs: list[bytes]) -> Embeddings:
        return vectors_from_bytes(blobs, self.dim) if blobs else np.zeros((0, self.dim), np.float32)
