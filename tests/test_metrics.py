"""Operators' endpoints: /metrics names and values after real streaming, /healthz, /readyz."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.clients import StreamClient, moving_frames
from models.frames import photo_to_frame
from server.app import create_app
from server.keys import SERVICES

from .helpers import enroll_student, login, settings_for, topic


async def test_metrics_health_and_readiness(aiohttp_client: Any, engine: Any, references: Any, photos: Any,
                                            tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path), engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"])
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json()) == {"ready": True, "model": True, "db": True, "redis": None}

    stream = StreamClient(client, await login(client))
    face = photos["madonna"][1]
    try:
        await stream.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(client))
        await stream.wait_for(lambda st: sum(1 for x in st if x["reason"] == "ok") >= 3
                              and st[-1]["credited_seconds"] >= 2)
        text = await (await client.get("/metrics")).text()
    finally:
        await stream.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert all(name.startswith("proctor_") for name in families)
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert value[("proctor_active_streams", ())] == 1
    assert value[("proctor_samples_total", ())] >= 3
    assert value[("proctor_verdicts_total", (("reason", "ok"),))] >= 3
    assert value[("proctor_credited_seconds_total", ())] >= 2
    assert value[("proctor_batch_size_count", ())] >= 3
    assert value[("proctor_sample_to_verdict_seconds_count", ())] >= 3


async def test_readyz_fails_when_the_database_is_unreachable(aiohttp_client: Any, engine: Any,
                                                              tmp_path: Path) -> None:
    from proctor.db import Database

    app = create_app(settings_for(tmp_path), engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    services = app[SERVICES]
    good = services.db
    gone = Database.from_url("postgresql://postgres@127.0.0.1:1/nothing")  # nothing listens on port 1
    object.__setattr__(services, "db", gone)  # Services is frozen; swap the database for this check only
    try:
        resp = await client.get("/readyz")
        assert resp.status == 503 and (await resp.json())["db"] is False
        assert (await client.get("/healthz")).status == 200  # alive, just not ready
    finally:
        object.__setattr__(services, "db", good)
        await gone.aclose()
