"""`proctor worker`: one verification worker (one per GPU) consuming jobs from Redis Streams."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys

from redis.exceptions import RedisError

from models import weights
from models.backends import BackendError
from models.backends.select import check_name
from models.device import DeviceError
from models.engine import Engine
from models.weights import WeightsError
from models.worker import Worker, WorkerConfig, redis_client

from .base import CliError

USER_ERRORS = (WeightsError, DeviceError, BackendError)


def cmd_worker(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.max_wait_ms < 0 or args.claim_idle_ms < 1:
        raise CliError("--batch-size and --claim-idle-ms must be positive, --max-wait-ms not negative")
    # The backend name is the cheapest check, so a typo is named before a missing secret.
    check_name(args.backend)
    secret = os.environ.get("PROCTOR_REDIS_SECRET", "")
    if not secret:
        raise CliError("set PROCTOR_REDIS_SECRET to the secret the media nodes share (verdicts are signed with it)")
    name = args.model or weights.DEFAULT_MODEL
    # Readiness: weights are fetched and sha-verified, and the model loaded, BEFORE the worker
    # joins the group, so a corrupt file exits 2 (WeightsError) having consumed nothing.
    weights.fetch(name, quiet=True)
    engine = Engine(name, device=args.device, backend=args.backend)
    consumer = args.consumer or f"{socket.gethostname()}-{os.getpid()}"
    return asyncio.run(_serve(engine, args, consumer))


async def _serve(engine: Engine, args: argparse.Namespace, consumer: str) -> int:

    config = WorkerConfig(consumer=consumer, batch_size=args.batch_size, max_wait_ms=args.max_wait_ms,
                          claim_idle_ms=args.claim_idle_ms)
    worker = Worker(engine, engine.model_name, engine.spec.dim, redis_client(args.redis_url), config,
                    secret=os.environ["PROCTOR_REDIS_SECRET"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await worker.start()
        except RedisError as exc:
            raise CliError(f"cannot join the worker group at {args.redis_url}: {exc}") from exc
        print(f"proctor worker {consumer}: ready ({engine.model_name} on {engine.backend.detail}, "
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
