"""Operators' endpoints: Prometheus metrics (`/metrics`), liveness (`/healthz`), readiness (`/readyz`)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from ..keys import CLUSTER, LIVE, METRICS, SERVICES, VERIFIER


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    m.active_streams.set(len(request.app[LIVE]))
    try:
        stats = await request.app[VERIFIER].stream_stats()
    except Exception:
        stats = None  # Redis down: /readyz says so; metrics keep their last values
    if stats is not None:  # scale-out mode: the job stream autoscalers watch
        length, lag = stats
        m.stream_length.set(length)
        if lag is not None:
            m.stream_lag.set(lag)
    return web.Response(body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves requests."""
    return web.json_response({"status": "ok", "time": time.time()})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: model loaded, database reachable, Redis reachable when configured."""
    checks: dict[str, Any] = {}
    verifier = request.app.get(VERIFIER)
    checks["model"] = verifier is not None
    try:
        async with request.app[SERVICES].db.engine.connect() as conn:
            await conn.execute(text("select 1"))
        checks["db"] = True
    except Exception:
        checks["db"] = False
    redis = await verifier.ping() if verifier is not None else None
    cluster = request.app.get(CLUSTER)
    if redis is None and cluster is not None:
        redis = await cluster.ping()
    checks["redis"] = redis
    ready = all(v for v in checks.values() if v is not None)
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
