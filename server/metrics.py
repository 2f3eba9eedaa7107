"""Prometheus metrics (`/metrics`) and health (`/healthz`, `/readyz`) for operators and autoscalers.

Every metric lives in the app's own CollectorRegistry (no module globals), and every name starts
with `proctor_`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass
class Metrics:
    """The node's metrics, registered in their own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.active_streams = Gauge("proctor_active_streams", "Live student streams on this node", registry=r)
        self.samples = Counter("proctor_samples", "Samples taken (verification attempts)", registry=r)
        self.verdicts = Counter("proctor_verdicts", "Sample outcomes by reason", ["reason"], registry=r)
        self.verify_latency = Histogram("proctor_sample_to_verdict_seconds", "From taking a sample to its verdict",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("proctor_batch_size", "Frames per inference batch", buckets=BATCH_BUCKETS,
                                    registry=r)
        self.inference = Histogram("proctor_inference_seconds", "Inference time per batch",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.credited = Counter("proctor_credited_seconds", "Learning seconds credited", registry=r)
        self.stream_length = Gauge("proctor_jobs_stream_length", "Jobs in the Redis stream (scale-out mode)",
                                   registry=r)
        self.stream_lag = Gauge("proctor_jobs_lag", "Jobs not yet delivered to workers (scale-out mode)", registry=r)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference.observe(seconds)


METRICS = web.AppKey("metrics", Metrics)


async def metrics(request: web.Request) -> web.Response:
    from .app import LIVE, VERIFIER

    m = request.app[METRICS]
    m.active_streams.set(len(request.app[LIVE]))
    stats = getattr(request.app.get(VERIFIER), "stream_stats", None)
    if stats is not None:  # scale-out mode: the job stream autoscalers watch
        try:
            length, lag = await stats()
            m.stream_length.set(length)
            if lag is not None:
                m.stream_lag.set(lag)
        except Exception:
            pass  # Redis down: /readyz says so; metrics keep their last values
    return web.Response(body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves requests."""
    return web.json_response({"status": "ok", "time": time.time()})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: model loaded, database reachable, Redis reachable when configured."""
    from sqlalchemy import text

    from .app import SERVICES, VERIFIER

    checks: dict[str, Any] = {}
    verifier = request.app.get(VERIFIER)
    checks["model"] = bool(verifier is not None and getattr(verifier, "ready", True))
    try:
        async with request.app[SERVICES].db.engine.connect() as conn:
            await conn.execute(text("select 1"))
        checks["db"] = True
    except Exception:
        checks["db"] = False
    from .app import CLUSTER

    cluster = request.app.get(CLUSTER)
    ping = getattr(verifier, "ping", None) or (cluster.ping if cluster is not None else None)
    checks["redis"] = (await ping()) if ping is not None else None
    ready = all(v for v in checks.values() if v is not None)
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
