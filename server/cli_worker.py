"""`proctor worker`: one verification worker (one per GPU) consuming jobs from Redis Streams."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from typing import Any

from .cli_base import CliError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="verify frames from media nodes through Redis Streams (one per GPU)")
    p.add_argument("--redis-url", default=os.environ.get("PROCTOR_REDIS_URL", DEFAULT_REDIS_URL),
                   help=f"Redis to consume from (default: PROCTOR_REDIS_URL or {DEFAULT_REDIS_URL})")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: automatic; PROCTOR_DEVICE)")
    p.add_argument("--model", default=None, help="registry name (default: facenet-msceleb-128)")
    p.add_argument("--batch-size", type=int, default=16, help="jobs per XREADGROUP and per inference batch")
    p.add_argument("--max-wait-ms", type=float, default=20.0, help="how long a partial batch waits to fill")
    p.add_argument("--claim-idle-ms", type=int, default=10_000,
                   help="reclaim jobs pending this long on a dead worker (about 2× the verify timeout)")
    p.add_argument("--consumer", default=None, help="consumer name in the group (default: host-pid)")
    p.set_defaults(handler=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from models import weights
    from models.engine import Engine

    if args.batch_size < 1 or args.max_wait_ms < 0 or args.claim_idle_ms < 1:
        raise CliError("--batch-size and --claim-idle-ms must be positive, --max-wait-ms not negative")
    name = args.model or weights.DEFAULT_MODEL
    # Readiness: weights are fetched and sha-verified, and the model loaded, BEFORE the worker
    # joins the group, so a corrupt file exits 2 (WeightsError) having consumed nothing.
    weights.fetch(name, quiet=True)
    engine = Engine(name, device=args.device)
    consumer = args.consumer or f"{socket.gethostname()}-{os.getpid()}"
    return asyncio.run(_serve(engine, args, consumer))


async def _serve(engine: Any, args: argparse.Namespace, consumer: str) -> int:
    from redis.exceptions import RedisError

    from models.worker import Worker, WorkerConfig, redis_client

    config = WorkerConfig(consumer=consumer, batch_size=args.batch_size, max_wait_ms=args.max_wait_ms,
                          claim_idle_ms=args.claim_idle_ms)
    worker = Worker(engine, engine.model_name, engine.spec.dim, redis_client(args.redis_url), config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await worker.start()
        except RedisError as exc:
            raise CliError(f"cannot join the worker group at {args.redis_url}: {exc}") from exc
        print(f"proctor worker {consumer}: ready ({engine.model_name} on {engine.device}, "
              f"batch {args.batch_size})", file=sys.stderr, flush=True)
        waiting = asyncio.create_task(worker.wait(), name="worker-wait")
        stopping = asyncio.create_task(stop.wait(), name="worker-stop")
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiting, stopping):
            task.cancel()
        results = await asyncio.gather(waiting, stopping, return_exceptions=True)
        if isinstance(results[0], Exception):
            raise results[0]
    finally:
        await worker.aclose()  # jobs in flight stay pending and are reclaimed by another worker
    return 0
