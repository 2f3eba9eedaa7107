"""`proctor bench streams`: N loopback aiortc clients stream webcam-like video to a live server.

The server runs in this process, exactly as `proctor serve` builds it (create_app, AppRunner on
127.0.0.1, a temporary SQLite ledger), and is what we measure. The N clients — each a student who
logs in, offers a 320×240 10 fps stream of their own photo with a little motion, and reads the
status messages — run together in ONE child process (`python -m server.bench_streams`). Keeping
them out of this process is what lets `getrusage(RUSAGE_SELF)` be the server's CPU alone, with no
estimate subtracted: VP8 encoding for N clients costs about as much as the server's decoding, and
in one process the two could not be told apart. The child measures its own CPU the same way.

Latency is taken on the server by wrapping the verifier instance's `verify` (batcher queue,
inference and the fail-closed deadline), so `server/live.py` runs unchanged. The child also
reports sample→status as the student sees it.

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
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_base import CliError, emit_json, show_progress

if TYPE_CHECKING:
    import av
    import numpy as np
    from aiohttp import web

    from .verifier import Outcome

FRAME_SIZE = (320, 240)
FPS = 10
PASSWORD = "bench streams password"
CONNECT_TIMEOUT_S = 60.0
FAILED_REASONS = ("verifier_unavailable", "camera_lost")  # fail-closed samples count as missed
SUSTAINED_P99_MS = 2000.0


def register(sub: Any) -> None:
    p = sub.add_parser("streams", help="N loopback WebRTC clients against a live in-process server")
    p.add_argument("--clients", type=int, default=8, help="concurrent streams (default 8)")
    p.add_argument("--seconds", type=float, default=30.0, help="measurement window once all are connected")
    p.add_argument("--interval", type=float, default=None, help="sample_interval_s (default: the server's, 3)")
    p.add_argument("--max-batch-size", type=int, default=None, help="batcher flush size (default: the server's)")
    p.add_argument("--max-wait-ms", type=float, default=None, help="batcher max wait (default: the server's)")
    p.add_argument("--device", default="cpu", help="inference device: cpu (default), cuda or cuda:N")
    p.add_argument("--workers", type=int, default=0,
                   help="0 = in-process batcher (default); K >= 1 = K `proctor worker` processes over Redis")
    p.add_argument("--redis-url", default=None,
                   help="Redis for --workers >= 1 (default: a private redis-server on a free port, stopped after)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=cmd_bench_streams)


def cmd_bench_streams(args: argparse.Namespace) -> int:
    from .config import ConfigError, Settings

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
        settings = Settings(device=args.device, demo=False, **overrides).validate()
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


# --- server side (this process) -----------------------------------------------------------------


@dataclass(frozen=True)
class _Usage:
    wall: float
    user: float
    sys: float


def _usage(who: int = resource.RUSAGE_SELF) -> _Usage:
    r = resource.getrusage(who)
    return _Usage(time.monotonic(), r.ru_utime, r.ru_stime)


def _rss_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None  # not Linux


def _proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a process (all its threads) from /proc/<pid>/stat, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None  # gone, or not Linux
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14 and 15 of stat(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class _PrivateRedis:
    """A redis-server for one run: free port, the temp dir, no persistence."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.dir = tmp

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, within_s: float = 10.0) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.dir), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        until = time.monotonic() + within_s
        while not await asyncio.to_thread(_redis_pong, self.port):  # bounded poll: no "ready" event
            if self.proc.returncode is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} on port {self.port}")
            if time.monotonic() > until:
                raise RuntimeError(f"redis-server did not answer PING on port {self.port}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            await _terminate(proc, 10.0)


async def _terminate(proc: asyncio.subprocess.Process, within_s: float) -> int:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within_s):
                return await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    return await proc.wait()


class _Worker:
    """One `proctor worker` subprocess; ready once it prints its readiness line (after joining the group)."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name, self.proc = name, proc
        self.tail: list[str] = []
        self.ready = asyncio.Event()
        self._reader = asyncio.create_task(self._read_stderr(), name=f"bench-worker-{name}")

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:  # drained to the end, so a chatty worker never blocks
            line = raw.decode(errors="replace").rstrip()
            self.tail = [*self.tail[-9:], line]
            if f"proctor worker {self.name}: ready" in line:
                self.ready.set()

    async def wait_ready(self, within_s: float) -> None:
        exited = asyncio.create_task(self.proc.wait())
        ready = asyncio.create_task(self.ready.wait())
        try:
            async with asyncio.timeout(within_s):
                await asyncio.wait({exited, ready}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise RuntimeError(f"worker {self.name} not ready after {within_s:g} s: "
                               f"{self.tail[-1] if self.tail else 'no output'}") from None
        finally:
            for t in (exited, ready):
                t.cancel()
        if not self.ready.is_set():
            await asyncio.gather(self._reader, return_exceptions=True)
            raise RuntimeError(f"worker {self.name} exited ({self.proc.returncode}) before it was ready: "
                               f"{self.tail[-1] if self.tail else 'no message'}")

    async def stop(self) -> int:
        code = await _terminate(self.proc, 15.0)
        await asyncio.gather(self._reader, return_exceptions=True)
        return code


async def _start_workers(k: int, redis_url: str, device: str) -> list[_Worker]:
    from models.paths import proctor_home

    env = {**os.environ, "PROCTOR_HOME": str(proctor_home())}
    workers = []
    for i in range(1, k + 1):
        name = f"w{i}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "worker", "--redis-url", redis_url, "--device", device,
            "--consumer", name, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env)
        workers.append(_Worker(name, proc))
    return workers


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return round(float(np.percentile(np.array(values) * 1000, q)), 1)


class _TimedVerify:
    """Wraps one verifier instance's `verify` to time sample→verdict; live.py does not change."""

    def __init__(self, verifier: Any) -> None:
        self._inner = verifier.verify
        self.records: list[tuple[float, float, str]] = []  # (wall start, seconds, reason)

    async def verify(self, frame: Any, references: Any, timeout_s: float, **kw: Any) -> Outcome:
        started, t0 = time.time(), time.perf_counter()
        outcome: Outcome = await self._inner(frame, references, timeout_s, **kw)
        self.records.append((started, time.perf_counter() - t0, outcome.reason.value))
        return outcome


class _LogCounter(logging.Handler):
    """Counts warnings and errors anywhere in this process (aiortc, aiohttp, the sampler)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.levels: Counter[str] = Counter()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        if len(self.messages) < 5:
            self.messages.append(f"{record.name}: {record.getMessage()}"[:300])


def _bench_photos() -> list[Path]:
    """The val photos, alternating people, so the first clients are different people."""
    from models.dataset import fetch_dataset, people

    by_person = list(people(fetch_dataset() / "val").values())
    ordered: list[Path] = []
    for i in range(max(len(v) for v in by_person)):
        ordered.extend(v[i] for v in by_person if i < len(v))
    return ordered


async def _enroll_students(app: web.Application, n: int) -> list[dict[str, str]]:
    """N approved students, each enrolled from the photo they will stream (reused past 25)."""
    from models.enroll import EnrollmentError, vectors_to_bytes
    from proctor.passwords import hash_password

    from .app import SERVICES, VERIFIER

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
    from dataclasses import replace

    from aiohttp import web

    from .app import SERVICES, VERIFIER, create_app

    logs = _LogCounter()
    logging.getLogger().addHandler(logs)
    loop_errors: list[str] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(str(ctx.get("message"))))
    try:
        with tempfile.TemporaryDirectory(prefix="proctor-bench-") as tmp:
            settings = replace(settings, db=f"sqlite:///{Path(tmp) / 'bench.db'}")
            private = _PrivateRedis(Path(tmp)) if workers and redis_url is None else None
            pool: list[_Worker] = []
            exit_codes: list[int] = []
            try:
                if private is not None:
                    await private.start()
                    redis_url = private.url
                if workers:
                    assert redis_url is not None
                    settings = replace(settings, redis_url=redis_url)
                    pool = await _start_workers(workers, redis_url, settings.device)  # load while the app does
                app = create_app(settings)
                runner = web.AppRunner(app, handle_signals=False)
                await runner.setup()  # runs cleanup_ctx: database, model load, batcher (or Redis verifier)
                try:
                    await asyncio.gather(*(w.wait_ready(180.0) for w in pool))
                    site = web.TCPSite(runner, "127.0.0.1", 0)
                    await site.start()
                    port = runner.addresses[0][1]
                    verifier = app[VERIFIER]
                    timed = _TimedVerify(verifier)
                    verifier.verify = timed.verify  # type: ignore[method-assign]  # instance-only wrap
                    students = await _enroll_students(app, clients)
                    topic = app[SERVICES].catalog.modules[0].topics[0].id
                    figures = await _drive(app, verifier, timed, students, f"http://127.0.0.1:{port}", topic,
                                           seconds, progress, pool)
                finally:
                    await runner.cleanup()  # ends live streams, stops the batcher, closes the DB
            finally:
                exit_codes = list(await asyncio.gather(*(w.stop() for w in pool)))
                if private is not None:
                    await private.stop()
            if pool:
                for row, code in zip(figures["workers_cpu"], exit_codes, strict=True):
                    row["exit_code"] = code
    finally:
        logging.getLogger().removeHandler(logs)
    figures["errors"] = {"server_log_errors": logs.levels["ERROR"] + logs.levels["CRITICAL"],
                         "server_log_warnings": logs.levels["WARNING"], "server_loop_exceptions": len(loop_errors),
                         **figures.pop("client_errors"), "messages": logs.messages + loop_errors[:5]}
    return figures


async def _drive(app: web.Application, verifier: Any, timed: _TimedVerify, students: list[dict[str, str]],
                 url: str, topic: str, seconds: float, progress: bool, pool: list[_Worker]) -> dict[str, Any]:
    import torch

    from .app import SETTINGS

    settings = app[SETTINGS]
    n = len(students)
    interval = settings.sample_interval_s
    grace = settings.verify_timeout_s + 2.0  # a sample taken at the window's end still reports
    rss: list[float] = []
    bar: Any = None
    u0 = _usage()  # replaced when the window opens

    async def sample_rss() -> None:
        while True:
            value = _rss_mib()
            if value is not None:
                rss.append(value)
            if bar is not None:  # elapsed window time, so the bar is honest even if a tick is late
                bar.update(round(min(bar.total, time.monotonic() - u0.wall) - bar.n, 1))
            await asyncio.sleep(1.0)

    config = {"url": url, "topic_id": topic, "password": PASSWORD, "students": students, "seconds": seconds,
              "grace": grace, "fps": FPS, "size": list(FRAME_SIZE), "connect_timeout": CONNECT_TIMEOUT_S}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.bench_streams", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=16 * 1024 * 1024)
    child = _Child(proc)
    rss_task = asyncio.create_task(sample_rss(), name="bench-rss")
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(config).encode())
        await proc.stdin.drain()
        proc.stdin.close()
        start_msg = await child.event("streaming", CONNECT_TIMEOUT_S + 60)
        u0 = _usage()
        wcpu0 = [_proc_cpu_s(w.proc.pid) for w in pool]
        batcher = None if pool else verifier.batcher  # distributed: the workers batch, not this process
        batches0 = dict(batcher.stats.batch_sizes) if batcher is not None else {}
        inference0 = len(batcher.stats.inference_s) if batcher is not None else 0
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=seconds, unit="s", desc=f"{n} streams", file=sys.stderr)
        end_msg = await child.event("window_end", seconds + 60)
        u1 = _usage()
        wcpu1 = [_proc_cpu_s(w.proc.pid) for w in pool]
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
    lat = [d for (at, d, _r) in timed.records if w0 <= at <= w1]
    hist = {str(k): v - batches0.get(k, 0) for k, v in sorted(batch_sizes.items()) if v - batches0.get(k, 0)}
    per_client = result["clients"]
    expected_each = math.floor(seconds / interval)
    received = sum(c["received"] for c in per_client)
    reasons: Counter[str] = Counter()
    for c in per_client:
        reasons.update(c["reasons"])
    failed = sum(reasons[r] for r in FAILED_REASONS)
    missing = sum(max(0, expected_each - c["received"]) for c in per_client)
    p99 = _pct(lat, 99)
    media_per_stream = 100 * server_cpu / window / n
    worker_pcts = [round(100 * (b - a) / window, 1) if a is not None and b is not None else None
                   for a, b in zip(wcpu0, wcpu1, strict=True)]
    workers_cpu: list[dict[str, Any]] = [{"name": w.name, "pid": w.proc.pid, "cpu_pct": pct}
                                         for w, pct in zip(pool, worker_pcts, strict=True)]
    return {
        "mode": "distributed" if pool else "local", "workers": len(pool),
        "clients": n, "seconds": seconds, "interval_s": interval, "frame_size": list(FRAME_SIZE), "fps": FPS,
        "device": settings.device if pool else str(verifier.engine.device), "model": verifier.model_name,
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
        "streams_per_core_media": round(100 / media_per_stream, 2) if media_per_stream > 0 else None,
        "latency": {
            "sample_to_verdict_p50_ms": _pct(lat, 50), "sample_to_verdict_p99_ms": p99,
            "sample_to_verdict_max_ms": _pct(lat, 100), "count": len(lat),
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
        "batches": {"histogram": None if pool else hist, "inference_p50_ms": None if pool else _pct(inference, 50),
                    "measured": "in the workers: not seen by the media node" if pool else "in-process batcher"},
        "rss_mib": {"start": rss[0] if rss else None, "peak": max(rss, default=None), "end": rss[-1] if rss else None,
                    "interval_s": 1.0, "series": rss},
        "per_client": per_client,
        "client_errors": {"client_log_errors": result["log_errors"], "client_loop_exceptions": result["loop_errors"],
                          "client_messages": result["messages"]},
        "sustained": p99 is not None and p99 < SUSTAINED_P99_MS and missing + failed == 0,
        "sustained_rule": f"sample_to_verdict_p99_ms < {SUSTAINED_P99_MS:.0f} and no missed samples",
    }


# --- client side (the child process) ------------------------------------------------------------


def _frames_track_class() -> type:
    """Built lazily: aiortc is imported only where a track is made."""
    from aiortc import VideoStreamTrack
    from aiortc.mediastreams import MediaStreamError

    class FramesTrack(VideoStreamTrack):
        """Loops over prepared frames at `fps`, paced to real time like a webcam."""

        def __init__(self, frames: list[av.VideoFrame], fps: int) -> None:
            super().__init__()
            self._frames = frames
            self._i = 0
            self._fps = fps
            self._began: float | None = None

        async def recv(self) -> av.VideoFrame:
            if self.readyState != "live":
                raise MediaStreamError
            if self._began is None:
                self._began = time.monotonic()
            await asyncio.sleep(max(0.0, self._began + self._i / self._fps - time.monotonic()))
            frame = self._frames[self._i % len(self._frames)]
            frame.pts = self._i * (90000 // self._fps)
            frame.time_base = Fraction(1, 90000)
            self._i += 1
            return frame

    return FramesTrack


def _moving_frames(photo: Path, size: tuple[int, int]) -> list[np.ndarray]:
    from models.frames import motion_path, photo_to_frame
    from models.images import read_image_file

    still = read_image_file(photo)
    return [photo_to_frame(still, size=size, shift=s) for s in motion_path(8)]


class _Student:
    """One browser, minus the browser: a login cookie, a peer connection, the control channel."""

    def __init__(self, srn: str, photo: str) -> None:
        import aiohttp
        from aiortc import RTCPeerConnection

        self.srn, self.photo = srn, photo
        # unsafe=True: the default jar refuses cookies from an IP address such as 127.0.0.1.
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.pc = RTCPeerConnection()
        self.connected = asyncio.Event()
        self.samples: dict[int, tuple[float, str, float]] = {}  # total → (sampled_at, reason, received at)

    async def start(self, url: str, topic: str, password: str, frames: list[av.VideoFrame], fps: int) -> None:
        from aiortc import RTCSessionDescription

        resp = await self.http.post(f"{url}/api/auth/login", json={"srn": self.srn, "password": password})
        body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"{self.srn}: login failed: {body}")
        csrf = body["csrf_token"]
        self.pc.addTransceiver(_frames_track_class()(frames, fps), direction="sendonly")
        channel = self.pc.createDataChannel("control")

        @channel.on("open")
        def on_open() -> None:
            channel.send(json.dumps({"type": "visibility", "visible": True}))

        @channel.on("message")
        def on_message(message: str) -> None:
            data = json.loads(message)
            # Visibility changes resend the last status: key by sample count to count each sample once.
            if data.get("type") == "status" and data["sampled_at"] is not None:
                total = data["samples"]["total"]
                self.samples.setdefault(total, (data["sampled_at"], data["reason"], time.time()))

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState == "connected":
                self.connected.set()

        await self.pc.setLocalDescription(await self.pc.createOffer())
        resp = await self.http.post(f"{url}/api/webrtc/offer", headers={"X-CSRF-Token": csrf},
                                    json={"sdp": self.pc.localDescription.sdp, "type": "offer", "topic_id": topic})
        body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"{self.srn}: offer refused: {body}")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))

    async def aclose(self) -> None:
        await self.pc.close()
        await self.http.close()


async def _client_main(config: dict[str, Any]) -> dict[str, Any]:
    import av

    logs = _LogCounter()
    logging.getLogger().addHandler(logs)
    loop_errors: list[str] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(str(ctx.get("message"))))
    size = (int(config["size"][0]), int(config["size"][1]))
    fps = int(config["fps"])
    cache: dict[str, list[av.VideoFrame]] = {}
    for s in config["students"]:
        if s["photo"] not in cache:
            cache[s["photo"]] = [av.VideoFrame.from_ndarray(f, format="rgb24")
                                 for f in _moving_frames(Path(s["photo"]), size)]
    students = [_Student(s["srn"], s["photo"]) for s in config["students"]]
    try:
        async with asyncio.timeout(float(config["connect_timeout"])):
            await asyncio.gather(*(s.start(config["url"], config["topic_id"], config["password"], cache[s.photo], fps)
                                   for s in students))
            await asyncio.gather(*(s.connected.wait() for s in students))
        start, u0 = time.time(), _usage()
        _say({"event": "streaming", "at": start})
        await asyncio.sleep(float(config["seconds"]))
        end, u1 = time.time(), _usage()
        _say({"event": "window_end", "at": end, "cpu_s": (u1.user - u0.user) + (u1.sys - u0.sys)})
        await asyncio.sleep(float(config["grace"]))  # still streaming: no camera_lost at the edge
    finally:
        await asyncio.gather(*(s.aclose() for s in students), return_exceptions=True)
        logging.getLogger().removeHandler(logs)
    delays: list[float] = []
    rows = []
    for s in students:
        inside = [v for v in s.samples.values() if start <= v[0] <= end]
        delays.extend(received - at for at, _reason, received in inside)
        rows.append({"srn": s.srn, "photo": Path(s.photo).parent.name + "/" + Path(s.photo).name,
                     "received": len(inside), "reasons": dict(Counter(r for _at, r, _rc in inside))})
    return {"event": "result", "clients": rows, "sample_to_client_p50_ms": _pct(delays, 50),
            "sample_to_client_p99_ms": _pct(delays, 99), "log_errors": logs.levels["ERROR"] + logs.levels["CRITICAL"],
            "loop_errors": len(loop_errors), "messages": logs.messages + loop_errors[:5]}


def _say(msg: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def _child() -> int:
    try:
        _say(asyncio.run(_client_main(json.loads(sys.stdin.read()))))
    except Exception as exc:
        _say({"event": "error", "message": f"{exc.__class__.__name__}: {exc}"[:500]})
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_child())
