"""`proctor bench inference`: the naive one-frame-at-a-time loop against the dynamic batcher, per backend.

Every available backend (torch, onnxruntime) runs the same frames, back to back in one process, so
machines that differ by 2× (and a shared machine's load, reported as `load_avg`) compare fairly. Per
backend: the naive loop (detect, then embed, one frame at a time, as typical facenet-pytorch code
runs) and the batched run (many concurrent callers sharing one inference thread, as live streams
do), with frames/s, faces/s, p50/p99 and where the time went per frame. `speedup_vs_torch` is the
default backend's batched frames/s over torch's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models.backends import BackendError
from models.backends.select import available, resolve
from models.batcher import Batcher
from models.dataset import fetch_dataset, people
from models.device import DeviceError, pick_device
from models.embedder import Embeddings
from models.engine import Engine, Verdict, VerifyRequest
from models.frames import motion_path, photo_to_frame
from models.images import ImageError, RGBImage, read_image_file
from models.weights import WeightsError
from server.cli.base import CliError, emit_json, show_progress
from server.cli.faces import backend_choice, load_engine

USER_ERRORS = (ImageError, WeightsError, DeviceError, BackendError)


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


def bench_frames(dataset: Path, count: int, size: tuple[int, int]) -> tuple[list[RGBImage], float]:
    """`count` frames from the dataset's photos, each with a small shift, cycling through people;
    and the seconds per frame it took to decode and resize them (the stage before the engine)."""
    photos = [p for paths in people(dataset).values() for p in paths]
    moves = motion_path(8)
    frames = []
    started = time.perf_counter()
    for i in range(count):
        photo = read_image_file(photos[i % len(photos)])
        frames.append(photo_to_frame(photo, size=size, shift=moves[i % len(moves)]))
    return frames, (time.perf_counter() - started) / count


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


def _stages_ms(engine: Engine, frames: int, decode_s: float) -> dict[str, float]:
    """Milliseconds per frame per stage, over everything the engine ran since its counters were reset."""
    st = engine.stage_seconds
    per = 1000.0 / frames
    resize = st.get("resize", 0.0) + st.get("crop", 0.0)
    return {"decode_resize": round(decode_s * 1000 + resize * per, 2),
            "detect": round((st.get("detect", 0.0) - st.get("resize", 0.0)) * per, 2),
            "embed": round(st.get("embed", 0.0) * per, 2), "match": round(st.get("match", 0.0) * per, 2)}


def bench_backend(engine: Engine, clip: list[RGBImage], decode_s: float, clients: int, max_batch_size: int,
                  max_wait_ms: float, tick: Callable[[], None] | None = None) -> dict[str, object]:
    """One backend: naive loop, then batched run, on the same frames."""
    # A reference from the first frame, so most frames go all the way through embedding.
    first = engine.detect([clip[0]])[0]
    refs = engine.embed_faces([clip[0]], [first[0]]) if first else np.zeros((1, engine.spec.dim), np.float32)
    engine.verify_batch([VerifyRequest(clip[0], refs)])  # warm-up: first call allocates
    engine.stage_seconds.clear()
    naive = naive_loop(engine, clip, refs, tick)
    engine.stage_seconds.clear()
    batched, histogram = asyncio.run(batched_run(engine, clip, refs, clients, max_batch_size, max_wait_ms, tick))
    return {"detail": engine.backend.detail, "naive": naive.__dict__, "batched": batched.__dict__,
            "batch_size_histogram": {str(k): v for k, v in histogram.items()},
            "speedup": round(batched.frames_per_s / naive.frames_per_s, 3),
            "stages_ms_per_frame": _stages_ms(engine, len(clip), decode_s)}


def run_inference_bench(engines: dict[str, Engine], default_backend: str, dataset: Path, frames: int = 96,
                        clients: int = 32, max_batch_size: int = 32, max_wait_ms: float = 50.0,
                        size: tuple[int, int] = (640, 480), tick: Callable[[], None] | None = None
                        ) -> dict[str, object]:
    clip, decode_s = bench_frames(dataset, frames, size)
    runs = {name: bench_backend(engine, clip, decode_s, clients, max_batch_size, max_wait_ms, tick)
            for name, engine in engines.items()}
    main = runs.get(default_backend) or next(iter(runs.values()))
    any_engine = next(iter(engines.values()))

    def batched_fps(name: str) -> float:
        return float(runs[name]["batched"]["frames_per_s"])  # type: ignore[index]

    speedup = (round(batched_fps(default_backend) / batched_fps("torch"), 3)
               if "torch" in runs and default_backend in runs else None)
    return {
        "device": str(any_engine.device),
        "model": any_engine.model_name,
        "frame_size": list(size),
        "frames": frames,
        "clients": clients,
        "max_batch_size": max_batch_size,
        "max_wait_ms": max_wait_ms,
        "load_avg": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
        "default_backend": default_backend,
        "speedup_vs_torch": speedup,
        # The default backend's figures at the top level, as before backends existed.
        "naive": main["naive"],
        "batched": main["batched"],
        "batch_size_histogram": main["batch_size_histogram"],
        "speedup": main["speedup"],
        "backends": runs,
    }


def cmd_bench_inference(args: argparse.Namespace) -> int:
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise CliError(f"--size must look like 640x480, not {args.size!r}") from None
    if args.frames < 1 or args.clients < 1 or args.max_batch_size < 1:
        raise CliError("--frames, --clients and --max-batch-size must be positive")
    device = pick_device(args.device)
    default_backend = resolve(None, device)
    # --backend (or PROCTOR_BACKEND) runs that one; otherwise every backend that runs here, torch first.
    chosen = backend_choice(args)
    names = [resolve(chosen, device)] if chosen else available(device)
    engines = {name: load_engine(args, name) for name in names}
    data = fetch_dataset() / "val"
    tick = None
    if show_progress(args):
        bar = tqdm(total=args.frames * 2 * len(engines), unit="frame", desc="bench", file=sys.stderr)
        tick = lambda: bar.update(1)  # noqa: E731
    report = run_inference_bench(engines, default_backend, data, args.frames, args.clients, args.max_batch_size,
                                 args.max_wait_ms, (w, h), tick)
    if args.json:
        emit_json(report)
    else:
        for k, v in report.items():
            print(f"{k}: {v}")
    return 0
