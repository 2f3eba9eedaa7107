"""Batcher semantics with a fake model: flush by size and time, cancellation, exception fan-out.

The fake sits at the model boundary only; tests/test_engine.py drives the batcher with the real
FaceNet engine.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from models.batcher import Batcher, BatcherClosed
from models.engine import Verdict, VerifyRequest

REFS = np.zeros((1, 4), np.float32)


def frame(tag: int) -> np.ndarray:
    f = np.zeros((32, 32, 3), np.uint8)
    f[0, 0, 0] = tag  # lets the fake say which request it saw
    return f


class FakeModel:
    """Answers each request with a verdict whose `faces` echoes the frame's tag."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate: threading.Event | None = None  # when set, the first batch waits on it
        self.entered = threading.Event()
        self.fail_with: Exception | None = None
        self.short = False

    def verify_batch(self, requests: list[VerifyRequest]) -> Sequence[Verdict | Exception]:
        assert threading.current_thread() is not threading.main_thread()  # never on the loop
        tags = [int(r.frame[0, 0, 0]) for r in requests]
        self.batches.append(tags)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
            self.gate = None
        if self.fail_with is not None:
            raise self.fail_with
        out: list[Verdict | Exception] = [
            ValueError(f"bad frame {t}") if t == 99 else Verdict(faces=t, score=1.0, match=True, reason="ok")
            for t in tags
        ]
        return out[:-1] if self.short else out


@pytest.fixture
async def fake() -> FakeModel:
    return FakeModel()


async def run(batcher: Batcher, tags: list[int]) -> list[Verdict | BaseException]:
    return await asyncio.gather(*(batcher.verify(frame(t), REFS) for t in tags), return_exceptions=True)


async def test_flushes_when_batch_is_full_without_waiting(fake: FakeModel) -> None:
    b = Batcher(fake, max_batch_size=4, max_wait_ms=60_000)  # a time flush would hit the test timeout
    await b.start()
    try:
        results = await run(b, [1, 2, 3, 4])
    finally:
        await b.aclose()
    assert fake.batches == [[1, 2, 3, 4]]
    assert [r.faces for r in results if isinstance(r, Verdict)] == [1, 2, 3, 4]


async def test_flushes_a_partial_batch_after_max_wait(fake: FakeModel) -> None:
    b = Batcher(fake, max_batch_size=64, max_wait_ms=30)
    await b.start()
    try:
        results = await run(b, [5, 6, 7])
    finally:
        await b.aclose()
    assert fake.batches == [[5, 6, 7]]
    assert all(isinstance(r, Verdict) for r in results)
    assert b.stats.batch_sizes == {3: 1}


async def test_requests_arriving_during_inference_form_the_next_batch(fake: FakeModel) -> None:
    fake.gate = threading.Event()
    b = Batcher(fake, max_batch_size=8, max_wait_ms=0)
    await b.start()
    try:
        first = asyncio.ensure_future(b.verify(frame(1), REFS))
        await asyncio.to_thread(fake.entered.wait, 10)
        later = [asyncio.ensure_future(b.verify(frame(t), REFS)) for t in (2, 3, 4)]
        await asyncio.sleep(0)  # let them enqueue; no timing is asserted
        fake.gate.set()
        await asyncio.gather(first, *later)
    finally:
        await b.aclose()
    assert fake.batches[0] == [1]
    assert sorted(t for batch in fake.batches[1:] for t in batch) == [2, 3, 4]


async def test_cancelled_callers_are_skipped(fake: FakeModel) -> None:
    fake.gate = threading.Event()
    b = Batcher(fake, max_batch_size=8, max_wait_ms=0)
    await b.start()
    try:
        first = asyncio.ensure_future(b.verify(frame(1), REFS))
        await asyncio.to_thread(fake.entered.wait, 10)  # batch 1 is inside the model
        gone = asyncio.ensure_future(b.verify(frame(2), REFS))
        kept = asyncio.ensure_future(b.verify(frame(3), REFS))
        await asyncio.sleep(0)
        gone.cancel()
        fake.gate.set()
        assert (await first).faces == 1
        assert (await kept).faces == 3
        with pytest.raises(asyncio.CancelledError):
            await gone
    finally:
        await b.aclose()
    assert [2] not in fake.batches and all(2 not in batch for batch in fake.batches)
    assert b.stats.skipped_cancelled == 1


async def test_a_batch_exception_reaches_every_caller_and_the_loop_survives(fake: FakeModel) -> None:
    fake.fail_with = RuntimeError("CUDA out of memory")
    b = Batcher(fake, max_batch_size=3, max_wait_ms=1000)
    await b.start()
    try:
        results = await run(b, [1, 2, 3])
        assert all(isinstance(r, RuntimeError) and "out of memory" in str(r) for r in results)
        fake.fail_with = None
        assert (await b.verify(frame(4), REFS)).faces == 4  # the next batch still runs
    finally:
        await b.aclose()


async def test_a_bad_frame_fails_only_its_own_caller(fake: FakeModel) -> None:
    b = Batcher(fake, max_batch_size=3, max_wait_ms=1000)
    await b.start()
    try:
        results = await run(b, [1, 99, 3])
    finally:
        await b.aclose()
    assert isinstance(results[0], Verdict) and isinstance(results[2], Verdict)
    assert isinstance(results[1], ValueError)


async def test_result_count_is_checked(fake: FakeModel) -> None:
    fake.short = True
    b = Batcher(fake, max_batch_size=2, max_wait_ms=1000)
    await b.start()
    try:
        results = await run(b, [1, 2])
    finally:
        await b.aclose()
    assert all(isinstance(r, RuntimeError) and "1 results for 2" in str(r) for r in results)


async def test_closed_batcher_refuses_and_aclose_fails_the_queue(fake: FakeModel) -> None:
    b = Batcher(fake, max_batch_size=8, max_wait_ms=0)
    with pytest.raises(BatcherClosed):
        await b.verify(frame(1), REFS)
    fake.gate = threading.Event()
    await b.start()
    first = asyncio.ensure_future(b.verify(frame(1), REFS))
    await asyncio.to_thread(fake.entered.wait, 10)
    queued = asyncio.ensure_future(b.verify(frame(2), REFS))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(b.aclose())
    await asyncio.sleep(0)
    fake.gate.set()
    await closing
    for fut in (first, queued):
        with pytest.raises(BatcherClosed):
            await fut
    with pytest.raises(BatcherClosed):
        await b.verify(frame(3), REFS)


def test_rejects_nonsense_settings(fake: FakeModel) -> None:
    with pytest.raises(ValueError):
        Batcher(fake, max_batch_size=0)
    with pytest.raises(ValueError):
        Batcher(fake, max_wait_ms=-1)
