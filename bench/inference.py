"""`proctor bench inference`: the naive one-frame-at-a-time loop against the dynamic batcher.

Both runs push the same frames through the same engine. The naive loop is how typical
facenet-pytorch code runs (detect, then embed, one frame at a time); the batched run has many
concurrent callers, as many live streams would, sharing one inference thread.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models.batcher import Batcher
from models.dataset import fetch_dataset, people
from models.device import DeviceError
from models.embedder import Embeddings
from models.engine import Engine, Verdict, VerifyRequest
from models.frames import motion_path, photo_to_frame
from models.images import ImageError, RGBImage, read_image_file
from models.weights import WeightsError
from server.cli.base import CliError, emit_json, show_progress
from server.cli.faces import load_engine

USER_ERRORS = (ImageError, WeightsError, DeviceError)


@dataclass(frozen=True)
class RunFigures:
    """Throughput and latency of one run."""

    frames: int
    seconds: float
    frames_per_s: float
    faces_per_s: float
    p50_ms: float
    p99_ms: float


def _figures(latencies: list[float], verdicts: list[Verdict], seconds: float) -> RunFigures:
    lat = np.array(latencies) * 1000
    faces = sum(v.faces for v in verdicts)
    return RunFigures(frames=len(verdicts), seconds=round(seconds, 3),
                      frames_per_s=round(len(verdicts) / seconds, 2), faces_per_s=round(faces / seconds, 2),
                      p50_ms=round(float(np.percentile(lat, 50)), 1), p99_ms=round(float(np.percentile(lat, 99)), 1))


def bench_frames(dataset: Path, count: int, size: tuple[int, int]) -> list[RGBImage]:
    """`count` frames from the dataset's photos, each with a small shift, cycling through people."""
    photos = [p for paths in people(dataset).values() for p in paths]
    moves = motion_path(8)
    frames = []
    for i in range(count):
        photo = read_image_file(photos[i % len(photos)])
        frames.append(photo_to_frame(photo, size=size, shift=moves[i % len(moves)]))
    return frames


def naive_loop(engine: Engine, frames: list[RGBImage], refs: Embeddings,
               tick: Callable[[], None] | None = None) -> RunFigures:
    latencies, verdicts = [], []
    started = time.perf_counter()
    for frame in frames:
        t0 = time.perf_counter()
        result = engine.verify_batch([VerifyRequest(frame, refs)])[0]
        latencies.append(time.perf_counter() - t0)
        if isinstance(result, Exception):
            raise result
        verdicts.append(result)
        if tick:
            tick()
    return _figures(latencies, verdicts, time.perf_counter() - started)


async def batched_run(engine: Engine, frames: list[RGBImage], refs: Embeddings, clients: int,
                      max_batch_size: int, max_wait_ms: float, tick: Callable[[], None] | None = None
                      ) -> tuple[RunFigures, dict[int, int]]:
    batcher = Batcher(engine, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                      max_queue=max(1024, clients * 2))
    await batcher.start()
    latencies: list[float] = []
    verdicts: list[Verdict] = []
    shares = [frames[i::clients] for i in range(clients)]

    async def client(mine: list[RGBImage]) -> None:
        for frame in mine:
            t0 = time.perf_counter()
            verdicts.append(await batcher.verify(frame, refs))
            latencies.append(time.perf_counter() - t0)
            if tick:
                tick()

    try:
        started = time.perf_counter()
        await asyncio.gather(*(client(s) for s in shares if s))
        seconds = time.perf_counter() - started
    finally:
        await batcher.aclose()
    return _figures(latencies, verdicts, seconds), dict(sorted(batcher.stats.batch_sizes.items()))


def run_inference_bench(engine: Engine, dataset: Path, frames: int = 96, clients: int = 32,
                        max_batch_size: int = 32, max_wait_ms: float = 50.0, size: tuple[int, int] = (640, 480),
                        tick: Callable[[], None] | None = None) -> dict[str, object]:
    clip = bench_frames(dataset, frames, size)
    # A reference from the first frame, so most frames go all the way through embedding.
    first = engine.detect([clip[0]])[0]
    refs = engine.embed_faces([clip[0]], [first[0]]) if first else np.zeros((1, engine.spec.dim), np.float32)
    engine.verify_batch([VerifyRequest(clip[0], refs)])  # warm-up: first call allocates
    naive = naive_loop(engine, clip, refs, tick)
    batched, histogram = asyncio.run(batched_run(engine, clip, refs, clients, max_batch_size, max_wait_ms, tick))
    return {
        "device": str(engine.device),
        "model": engine.model_name,
        "frame_size": list(size),
        "frames": frames,
        "clients": clients,
        "max_batch_size": max_batch_size,
        "max_wait_ms": max_wait_ms,
        "naive": naive.__dict__,
        "batched": batched.__dict__,
        "batch_size_histogram": {str(k): v for k, v in histogram.items()},
        "speedup": round(batched.frames_per_s / naive.frames_per_s, 3),
    }


def cmd_bench_inference(args: argparse.Namespace) -> int:
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise CliError(f"--size must look like 640x480, not {args.size!r}") from None
    if args.frames < 1 or args.clients < 1 or args.max_batch_size < 1:
        raise CliError("--frames, --clients and --max-batch-size must be positive")
    engine = load_engine(args)
    data = fetch_dataset() / "val"
    tick = None
    if show_progress(args):
        bar = tqdm(total=args.frames * 2, unit="frame", desc="bench", file=sys.stderr)
        tick = lambda: bar.update(1)  # noqa: E731
    report = run_inference_bench(engine, data, args.frames, args.clients, args.max_batch_size,
                                 args.max_wait_ms, (w, h), tick)
    if args.json:
        emit_json(report)
    else:
        for k, v in report.items():
            print(f"{k}: {v}")
    return 0
