"""`proctor bench streams`: N loopback aiortc clients stream webcam-like video to a live server.

The server runs in this process, exactly as `proctor serve` builds it (create_app, AppRunner on
127.0.0.1, a temporary SQLite ledger), and is what we measure. The N clients — each a student who
logs in, offers a 320×240 10 fps stream of their own photo with a little motion, and reads the
status messages — run together in ONE child process (`python -m bench.stream_clients`). Keeping
them out of this process is what lets `getrusage(RUSAGE_SELF)` be the server's CPU alone, with no
estimate subtracted: VP8 encoding for N clients costs about as much as the server's decoding, and
in one process the two could not be told apart. The child measures its own CPU the same way.

Latency is taken on the server from the sampler's own measurement of each verify call (batcher
queue, inference and the fail-closed deadline), through `Metrics.sample_listeners`; the server
code runs unchanged. The child also reports sample→status as the student sees it.

The child speaks JSON lines on stdout: `streaming` when every client is connected (the
measurement window opens), `window_end` after `--seconds`, then `result` after a grace period in
which statuses of samples taken inside the window can still arrive.

`--workers K` (K ≥ 1) measures the distributed deployment instead: the server is a media node
(Settings.redis_url set, so RedisVerifier sends jobs to Redis Streams and keeps an engine only for
enrollment), and K `proctor worker` subprocesses answer them. Without `--redis-url` a private
redis-server is started on a free port in the temp dir. Each worker's CPU is read from
/proc/<pid>/stat (utime + stime) over the same window, so the media node's CPU per stream — what
`streams_per_core_media` is derived from — no longer includes inference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from aiohttp import web
from tqdm import tqdm

from models.dataset import fetch_dataset, people
from models.device import DeviceError
from models.enroll import EnrollmentError, vectors_to_bytes
from models.weights import WeightsError
from proctor.passwords import hash_password
from server.app import create_app
from server.cli.base import CliError, emit_json, show_progress
from server.config import ConfigError, Settings
from server.keys import METRICS, SERVICES, SETTINGS, VERIFIER
from server.verify.local import LocalVerifier

from .measure import LogCounter, percentile_ms, proc_cpu_s, rss_mib, usage
from .redis_server import RedisServer
from .workers import WorkerProcess, start_workers

USER_ERRORS = (DeviceError, WeightsError)
FRAME_SIZE = (320, 240)
FPS = 10
PASSWORD = "bench streams password"
CONNECT_TIMEOUT_S = 60.0
FAILED_REASONS = ("verifier_unavailable", "camera_lost")  # fail-closed samples count as missed
SUSTAINED_P99_MS = 2000.0


def cmd_bench_streams(args: argparse.Namespace) -> int:
    if not 1 <= args.clients <= 500:
        raise CliError("--clients must be between 1 and 500")
    if not math.isfinite(args.seconds) or args.seconds <= 0:
        raise CliError("--seconds must be positive")
    if args.max_batch_size is not None and args.max_batch_size < 1:
        raise CliError("--max-batch-size must be at least 1")
    if args.max_wait_ms is not None and not 0 <= args.max_wait_ms < math.inf:
        raise CliError("--max-wait-ms must not be negative")
    if not 0 <= args.workers <= 64:
        raise CliError("--workers must be between 0 and 64")
    if args.redis_url is not None and args.workers == 0:
        raise CliError("--redis-url needs --workers 1 or more")
    if args.workers and args.redis_url is None and shutil.which("redis-server") is None:
        raise CliError("--workers needs redis-server on PATH, or --redis-url")
    overrides = {k: v for k, v in (("sample_interval_s", args.interval), ("max_batch_size", args.max_batch_size),
                                   ("max_wait_ms", args.max_wait_ms)) if v is not None}
    try:
        settings = Settings(device=args.device, demo=False, liveness=args.liveness,
                            backend=args.backend or os.environ.get("PROCTOR_BACKEND", "auto"), **overrides).validate()
    except ConfigError as exc:
        raise CliError(str(exc).replace("sample_interval_s", "--interval")) from None
    if args.seconds < settings.sample_interval_s:
        raise CliError(f"--seconds ({args.seconds:g}) must be at least one sample interval "
                       f"({settings.sample_interval_s:g} s)")
    report = asyncio.run(run_streams_bench(settings, args.clients, args.seconds, show_progress(args),
                                           workers=args.workers, redis_url=args.redis_url))
    if args.json:
        emit_json(report)
    else:
        for k, v in report.items():
            print(f"{k}: {v}")
    return 0


def _bench_photos() -> list[Path]:
    """The val photos, alternating people, so the first clients are different people."""
    by_person = list(people(fetch_dataset() / "val").values())
    ordered: list[Path] = []
    for i in range(max(len(v) for v in by_person)):
        ordered.extend(v[i] for v in by_person if i < len(v))
    return ordered


async def _enroll_students(app: web.Application, n: int) -> list[dict[str, str]]:
    """N approved students, each enrolled from the photo they will stream (reused past 25)."""
    verifier, students = app[VERIFIER], app[SERVICES].students
    usable = []
    for path in _bench_photos():
        data = path.read_bytes()
        try:
            usable.append((path, data, await verifier.enroll([data])))
        except EnrollmentError:
            continue  # a few dataset photos have small or several faces: not a valid reference
        if len(usable) == n:
            break
    if not usable:
        raise RuntimeError("no dataset photo could be enrolled")
    password_hash = hash_password(PASSWORD)  # argon2 is slow on purpose: once, not N times
    out = []
    for i in range(n):
        path, data, enrolled = usable[i % len(usable)]
        srn = f"BENCH{i + 1:03d}"
        uid = await students.add_student(srn, f"Bench {i + 1}", None, password_hash)
        await students.add_reference(uid, data, enrolled.model, vectors_to_bytes(enrolled.embeddings), verifier.dim)
        await students.set_enrollment_status(uid, "approved")
        out.append({"srn": srn, "photo": str(path)})
    return out


class _Child:
    """The client process and its JSON-lines protocol."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.stderr is not None
        self._stderr = asyncio.ensure_future(proc.stderr.read())

    async def event(self, name: str, within: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(within):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    await self.proc.wait()
                    err = (await self._stderr).decode(errors="replace").strip().splitlines()
                    raise RuntimeError(f"the client process exited ({self.proc.returncode}) before "
                                       f"'{name}': {err[-1] if err else 'no message'}")
                msg: dict[str, Any] = json.loads(line)
                if msg.get("event") == name:
                    return msg
                if msg.get("event") == "error":
                    raise RuntimeError(f"client process: {msg.get('message')}")

    async def aclose(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
        with contextlib.suppress(Exception):
            await self._stderr


async def run_streams_bench(settings: Any, clients: int, seconds: float, progress: bool, *,
                            workers: int = 0, redis_url: str | None = None) -> dict[str, Any]:
    logs = LogCounter()
    logging.getLogger().addHandler(logs)
    loop_errors: list[str] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(str(ctx.get("message"))))
    try:
        with tempfile.TemporaryDirectory(prefix="proctor-bench-") as tmp:
            settings = replace(settings, db=f"sqlite:///{Path(tmp) / 'bench.db'}")
            private = RedisServer(Path(tmp)) if workers and redis_url is None else None
            pool: list[WorkerProcess] = []
            exit_codes: list[int] = []
            try:
                if private is not None:
                    await asyncio.to_thread(private.start)
                    redis_url = private.url
                if workers:
                    assert redis_url is not None
                    settings = replace(settings, redis_url=redis_url,
                                       redis_secret=settings.redis_secret or secrets.token_hex(16))
                    # Workers load their model while the app does.
                    pool = await start_workers(workers, redis_url, settings.device, settings.redis_secret,
                                               settings.backend)
                app = create_app(settings)
                runner = web.AppRunner(app, handle_signals=False)
                await runner.setup()  # runs cleanup_ctx: database, model load, batcher (or Redis verifier)
                try:
                    await asyncio.gather(*(w.wait_ready(180.0) for w in pool))
                    site = web.TCPSite(runner, "127.0.0.1", 0)
                    await site.start()
                    port = runner.addresses[0][1]
                    # Every sample's verify time, as the sampler measured it (batcher queue and
                    # inference, or the Redis round trip, or the fail-closed deadline).
                    verified: list[tuple[float, float, str]] = []
                    app[METRICS].sample_listeners.append(
                        lambda at, took, reason: verified.append((at, took, reason)) if took is not None else None)
                    students = await _enroll_students(app, clients)
                    topic = app[SERVICES].catalog.modules[0].topics[0].id
                    figures = await _drive(app, verified, students, f"http://127.0.0.1:{port}", topic,
                                           seconds, progress, pool)
                finally:
                    await runner.cleanup()  # ends live streams, stops the batcher, closes the DB
            finally:
                exit_codes = list(await asyncio.gather(*(w.stop() for w in pool)))
                if private is not None:
                    await asyncio.to_thread(private.stop)
            if pool:
                for row, code in zip(figures["workers_cpu"], exit_codes, strict=True):
                    row["exit_code"] = code
    finally:
        logging.getLogger().removeHandler(logs)
    figures["errors"] = {"server_log_errors": logs.levels["ERROR"] + logs.levels["CRITICAL"],
                         "server_log_warnings": logs.levels["WARNING"], "server_loop_exceptions": len(loop_errors),
                         **figures.pop("client_errors"), "messages": logs.messages + loop_errors[:5]}
    return figures


async def _drive(app: web.Application, verified: list[tuple[float, float, str]], students: list[dict[str, str]],
                 url: str, topic: str, seconds: float, progress: bool, pool: list[WorkerProcess]) -> dict[str, Any]:
    settings = app[SETTINGS]
    verifier = app[VERIFIER]
    local = verifier if isinstance(verifier, LocalVerifier) else None
    n = len(students)
    interval = settings.sample_interval_s
    grace = settings.verify_timeout_s + 2.0  # a sample taken at the window's end still reports
    rss: list[float] = []
    bar: Any = None
    u0 = usage()  # replaced when the window opens

    async def sample_rss() -> None:
        while True:
            value = rss_mib()
            if value is not None:
                rss.append(value)
            if bar is not None:  # elapsed window time, so the bar is honest even if a tick is late
                bar.update(round(min(bar.total, time.monotonic() - u0.wall) - bar.n, 1))
            await asyncio.sleep(1.0)

    config = {"url": url, "topic_id": topic, "password": PASSWORD, "students": students, "seconds": seconds,
              "grace": grace, "fps": FPS, "size": list(FRAME_SIZE), "connect_timeout": CONNECT_TIMEOUT_S}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.stream_clients", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=16 * 1024 * 1024)
    child = _Child(proc)
    rss_task = asyncio.create_task(sample_rss(), name="bench-rss")
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(config).encode())
        await proc.stdin.drain()
        proc.stdin.close()
        start_msg = await child.event("streaming", CONNECT_TIMEOUT_S + 60)
        u0 = usage()
        wcpu0 = [proc_cpu_s(w.proc.pid) for w in pool]
        batcher = local.batcher if local is not None else None  # distributed: the workers batch, not this process
        batches0 = dict(batcher.stats.batch_sizes) if batcher is not None else {}
        inference0 = len(batcher.stats.inference_s) if batcher is not None else 0
        if progress:
            bar = tqdm(total=seconds, unit="s", desc=f"{n} streams", file=sys.stderr)
        end_msg = await child.event("window_end", seconds + 60)
        u1 = usage()
        wcpu1 = [proc_cpu_s(w.proc.pid) for w in pool]
        batch_sizes = dict(batcher.stats.batch_sizes) if batcher is not None else {}
        inference = batcher.stats.inference_s[inference0:] if batcher is not None else []
        if bar is not None:
            bar.update(bar.total - bar.n)
            bar.close()
        result = await child.event("result", grace + 60)
        await proc.wait()
    finally:
        rss_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await rss_task
        await child.aclose()

    w0, w1 = float(start_msg["at"]), float(end_msg["at"])
    window = max(u1.wall - u0.wall, 1e-9)
    server_cpu = (u1.user - u0.user) + (u1.sys - u0.sys)
    client_cpu = float(end_msg["cpu_s"])
    lat = [d for (at, d, _r) in verified if w0 <= at <= w1]
    hist = {str(k): v - batches0.get(k, 0) for k, v in sorted(batch_sizes.items()) if v - batches0.get(k, 0)}
    per_client = result["clients"]
    expected_each = math.floor(seconds / interval)
    received = sum(c["received"] for c in per_client)
    reasons: Counter[str] = Counter()
    for c in per_client:
        reasons.update(c["reasons"])
    failed = sum(reasons[r] for r in FAILED_REASONS)
    missing = sum(max(0, expected_each - c["received"]) for c in per_client)
    p99 = percentile_ms(lat, 99)
    media_per_stream = 100 * server_cpu / window / n
    worker_pcts = [round(100 * (b - a) / window, 1) if a is not None and b is not None else None
                   for a, b in zip(wcpu0, wcpu1, strict=True)]
    workers_cpu: list[dict[str, Any]] = [{"name": w.name, "pid": w.proc.pid, "cpu_pct": pct}
                                         for w, pct in zip(pool, worker_pcts, strict=True)]
    return {
        "mode": "distributed" if pool else "local", "workers": len(pool),
        "clients": n, "seconds": seconds, "interval_s": interval, "frame_size": list(FRAME_SIZE), "fps": FPS,
        "device": str(local.engine.device) if local is not None else settings.device, "model": verifier.model_name,
        "backend": local.engine.backend.detail if local is not None else settings.backend,
        "max_batch_size": settings.max_batch_size, "max_wait_ms": settings.max_wait_ms,
        "verify_timeout_s": settings.verify_timeout_s, "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu": {
            "window_s": round(window, 3),
            "server_pct_per_stream": round(100 * server_cpu / window / n, 2),
            "server_pct_total": round(100 * server_cpu / window, 1),
            "server_user_s": round(u1.user - u0.user, 3), "server_sys_s": round(u1.sys - u0.sys, 3),
            "clients_pct_per_stream": round(100 * client_cpu / window / n, 2),
            "clients_pct_total": round(100 * client_cpu / window, 1),
            "media_pct_per_stream": round(media_per_stream, 2),
            "workers_pct_total": round(sum(v for v in worker_pcts if v is not None), 1) if pool else None,
            "measured": "% of one core over the window, from getrusage: server = this process (HTTP, ICE/DTLS/SRTP, "
                        "VP8 decode threads, sampler, inference thread, SQLite); clients = the separate client "
                        "process (VP8 encode, SRTP); neither includes the other; both share the same cores. "
                        "media = the server as a media node (= server_pct_per_stream; in distributed mode it "
                        "runs no inference); workers = each `proctor worker` process, /proc/<pid>/stat "
                        "utime+stime over the same window",
        },
        "workers_cpu": workers_cpu,
        "liveness": settings.liveness,
        "verifier_load": {
            "verifications": len(lat), "per_stream_per_s": round(len(lat) / window / n, 3),
            "measured": "verifier calls started inside the window (every sample, including the faster ones "
                        "taken while a liveness challenge is open), per stream per second",
        },
        "streams_per_core_media": round(100 / media_per_stream, 2) if media_per_stream > 0 else None,
        "latency": {
            "sample_to_verdict_p50_ms": percentile_ms(lat, 50), "sample_to_verdict_p99_ms": p99,
            "sample_to_verdict_max_ms": percentile_ms(lat, 100), "count": len(lat),
            "measured": ("server side: RedisVerifier.verify (Redis job, worker batch + inference, verdict "
                         "stream, or the fail-closed deadline)" if pool else
                         "server side: LocalVerifier.verify (batcher queue + inference, or the fail-closed "
                         "deadline)") + " for samples started inside the window",
            "sample_to_client_p50_ms": result["sample_to_client_p50_ms"],
            "sample_to_client_p99_ms": result["sample_to_client_p99_ms"],
            "sample_to_client_measured": "sampled_at on the server to the status message at the client "
                                         "(adds RGB conversion, ledger writes, data channel); wall clock",
        },
        "samples": {
            "expected_per_client": expected_each, "expected": expected_each * n, "received": received,
            "reasons": dict(sorted(reasons.items())), "missing": missing,
            "verifier_unavailable": reasons["verifier_unavailable"], "camera_lost": reasons["camera_lost"],
            "missed": missing + failed,
            "measured": "statuses received by the clients for samples taken inside the window; expected = "
                        "floor(seconds / interval) per client; missed = missing + verifier_unavailable + camera_lost",
        },
        "batches": {"histogram": None if pool else hist,
                    "inference_p50_ms": None if pool else percentile_ms(inference, 50),
                    "measured": "in the workers: not seen by the media node" if pool else "in-process batcher"},
        "rss_mib": {"start": rss[0] if rss else None, "peak": max(rss, default=None), "end": rss[-1] if rss else None,
                    "interval_s": 1.0, "series": rss},
        "per_client": per_client,
        "client_errors": {"client_log_errors": result["log_errors"], "client_loop_exceptions": result["loop_errors"],
                          "client_messages": result["messages"]},
        "sustained": p99 is not None and p99 < SUSTAINED_P99_MS and missing + failed == 0,
        "sustained_rule": f"sample_to_verdict_p99_ms < {SUSTAINED_P99_MS:.0f} and no missed samples",
    }
