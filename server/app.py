"""The aiohttp application factory.

Shared objects live on the app under the typed keys of `server/keys.py` and are created and closed
in `cleanup_ctx`, in dependency order: database → services → verifier → live streams. aiohttp
unwinds them in reverse, so on shutdown the live streams end (and are persisted) before the
verifier stops and before the database closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from models import weights
from models.decode_pool import DecodePool
from models.detector import DetectorConfig
from models.engine import Engine
from proctor.catalog import load_catalog
from proctor.clock import Clock, SystemClock
from proctor.content import load_installed
from proctor.credit import CreditPolicy
from proctor.db import Database
from proctor.events import EventBus
from proctor.evidence import Evidence
from proctor.ledger import Ledger
from proctor.liveness import LivenessPolicy
from proctor.liveness_ledger import LivenessLedger
from proctor.lockout import IpLimiter
from proctor.logins import Logins
from proctor.maintenance import Maintenance
from proctor.outbox import OutboxSender
from proctor.review import Review
from proctor.students import Students
from proctor.study import Electives

from .api import setup_routes
from .api.auth import auth_middleware
from .background import Background
from .cluster import ClusterBridge
from .config import Settings
from .http import error_middleware, security_headers
from .keys import (
    BACKGROUND,
    CLUSTER,
    CONTENT,
    ELECTIVES,
    EVENTS,
    LIMITS,
    LIVE,
    LOGIN_ENDS,
    METRICS,
    SERVICES,
    SETTINGS,
    STARTER,
    VERIFIER,
    VIEWERS,
    WEBSOCKETS,
    Services,
)
from .limits import Limits
from .media.control import StreamLimits
from .media.live_view import Viewers
from .media.registry import LiveRegistry
from .media.sessions import SessionStarter
from .media.stream import LiveStream, StreamDeps
from .metrics import Metrics
from .retention import RetentionJob
from .session_ends import LoginEnd, LoginEnds
from .spmt_context import spmt_context
from .verify.local import LocalVerifier
from .verify.outcome import NodeVerifier
from .verify.remote import RedisVerifier

log = logging.getLogger("proctor.app")

EngineFactory = Callable[[Settings], Engine]


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def default_engine(settings: Settings) -> Engine:
    weights.fetch(settings.model, quiet=True)
    return Engine(settings.model, device=settings.device or None, backend=settings.backend,
                  detector=DetectorConfig(min_face_px=settings.min_face_px))


def create_app(settings: Settings, *, clock: Clock | None = None,
               engine_factory: EngineFactory = default_engine) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[error_middleware, auth_middleware])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    the_clock = clock or SystemClock()
    app.cleanup_ctx.extend([_database(the_clock), _study, _verifier(engine_factory), _live(the_clock)])
    app.cleanup_ctx.extend([_database(the_clock), _background, _verifier(engine_factory), _live(the_clock)])
    app.cleanup_ctx.extend([_database(the_clock), spmt_context, _verifier(engine_factory), _live(the_clock)])
    app.on_shutdown.append(_close_streams)
    app.on_response_prepare.append(security_headers(settings.https))
    setup_routes(app)
    return app


def _database(clock: Clock) -> Callable[[web.Application], AsyncIterator[None]]:
    async def database(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        db = Database.from_url(settings.db_url())
        await db.migrate()
        catalog = load_catalog(Path(settings.catalog) if settings.catalog else None)
        policy = CreditPolicy(sample_interval_s=settings.sample_interval_s, max_gap_s=settings.max_gap_s,
                              flag_after=settings.flag_after)
        retention_s = settings.snapshot_retention_days * 86400
        ledger = Ledger(db)
        # A previous process that died (kill -9) left sessions open: they ended when it died. With
        # several nodes on one ledger, only sessions that stopped sampling are this node's leftovers.
        if settings.redis_url:
            ended = await ledger.end_stale_open(clock.now(), 2 * settings.max_gap_s, "server_restart")
        else:
            ended = await ledger.end_all_open(clock.now(), "server_restart")
        if ended:
            log.info("closed %d session(s) left open by a previous run", len(ended))
        accounts = Logins(db, clock, sender=OutboxSender(db, clock))
        evidence = Evidence(db, clock, retention_s)
        app[SERVICES] = Services(db, clock, accounts, Students(db, clock), ledger, catalog, policy,
                                 Maintenance(db, clock), IpLimiter(clock),
                                 Review(db, clock, snapshot_retention_s=retention_s,
                                        margin_s=settings.sample_interval_s), evidence)
        retention = RetentionJob(evidence)
        await retention.start()
        try:
            yield
        finally:
            await retention.aclose()
            await db.aclose()

    return database


async def _study(app: web.Application) -> AsyncIterator[None]:
    """The installed content pack (checked against the catalog) and the elective rules."""
    settings, services = app[SETTINGS], app[SERVICES]
    topics = {t.id for m in services.catalog.modules for t in m.topics}
    app[CONTENT] = await asyncio.to_thread(load_installed, settings.content_path(), topics)
    app[ELECTIVES] = Electives(services.db, services.clock, services.catalog)
    yield
async def _background(app: web.Application) -> AsyncIterator[None]:
    # After the database (its work uses it), so it is drained before the database closes.
    settings, clock = app[SETTINGS], app[SERVICES].clock
    app[LIMITS] = Limits.from_settings(settings, clock)
    background = Background()
    app[BACKGROUND] = background
    try:
        yield
    finally:
        await background.aclose()


def _verifier(engine_factory: EngineFactory) -> Callable[[web.Application], AsyncIterator[None]]:
    async def verifier(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        engine = await asyncio.to_thread(engine_factory, settings)  # loading weights blocks
        v: NodeVerifier
        if settings.redis_url:
            # Workers run the batches; the node keeps an engine only for enrollment photos.
            v = RedisVerifier(settings.redis_url, secret=settings.redis_secret, engine=engine,
                              node_id=settings.node_id or None)
        else:
            v = LocalVerifier(engine, settings.max_batch_size, settings.max_wait_ms,
                              on_batch=app[METRICS].observe_batch,
                              decode_pool=DecodePool(settings.enroll_decode_workers),
                              max_decoded_bytes=settings.enroll_max_decoded_mb * 1024 * 1024)
        await v.start()
        app[VERIFIER] = v
        try:
            yield
        finally:
            await v.aclose()

    return verifier


def _live(clock: Clock) -> Callable[[web.Application], AsyncIterator[None]]:
    async def live(app: web.Application) -> AsyncIterator[None]:
        settings, services = app[SETTINGS], app[SERVICES]
        viewers = Viewers(settings.max_viewers_per_student)
        bus = EventBus(clock=clock)
        cluster = (ClusterBridge(settings.redis_url, settings.node_id or default_node_id(), bus,
                                 lambda user_id, reason: registry.end_user(user_id, reason),
                                 lambda ended: login_ends.apply(LoginEnd.from_json(ended)))
                   if settings.redis_url else None)

        async def on_end(stream: LiveStream) -> None:
            await viewers.close_session(stream.session_id)
            if cluster is not None:
                await cluster.release_stream(stream.ctx.user_id, stream.session_id)

        registry = LiveRegistry(on_end=on_end)
        login_ends = LoginEnds(registry, viewers)
        if cluster is not None:
            bridge = cluster

            async def broadcast(ended: LoginEnd) -> None:
                await bridge.broadcast_login_end(ended.to_json())

            login_ends.broadcast = broadcast
        app[LOGIN_ENDS] = login_ends
        deps = StreamDeps(app[VERIFIER], services.ledger, clock, services.policy, settings.verify_timeout_s, bus,
                          services.evidence, app[METRICS], *_liveness(settings, services.db),
                          StreamLimits(settings.stream_connect_timeout_s, settings.control_messages_per_s,
                                       settings.control_burst, settings.max_pending_control_writes))
        app[LIVE], app[VIEWERS], app[EVENTS], app[CLUSTER] = registry, viewers, bus, cluster
        app[STARTER] = SessionStarter(services.db, deps, registry, cluster)
        app[WEBSOCKETS] = set()
        if cluster is not None:
            await cluster.start()
        try:
            yield
        finally:
            await registry.aclose("server_shutdown")
            await viewers.aclose()
            if cluster is not None:
                await cluster.aclose()

    return live


def _liveness(settings: Settings, db: Database) -> tuple[LivenessPolicy | None, LivenessLedger | None]:
    """Liveness policy and ledger for the live streams; (None, None) with liveness off."""
    if not settings.liveness:
        return None, None
    policy = LivenessPolicy(interval_s=settings.liveness_interval_s, timeout_s=settings.liveness_timeout_s,
                            min_turn=settings.liveness_min_turn, static_check=settings.liveness_static_check,
                            virtual_camera_check=settings.liveness_virtual_camera_check)
    return policy, LivenessLedger(db)


async def _close_streams(app: web.Application) -> None:
    # on_shutdown runs before cleanup: end peer connections while the DB is still open,
    # and close proctors' WebSockets so the server does not wait on them.
    sockets: set[web.WebSocketResponse] = app[WEBSOCKETS]
    for ws in list(sockets):
        await ws.close(code=1001, message=b"server shutdown")
    await app[VIEWERS].aclose()
    # Drain: pages reconnect to another node while this one still answers, then the rest end
    # (persisted), and their pages are told to reconnect too, never that the session ended.
    left = await app[LIVE].drain(app[SETTINGS].drain_timeout_s)
    if left:
        log.info("%d stream(s) still here after draining; ending them", left)
    await app[LIVE].aclose("server_shutdown")
