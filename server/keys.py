"""The typed keys of everything shared on the aiohttp app, and where the pages live.

A leaf: handlers and the app factory import it; nothing it imports imports it back. Objects are
created and closed by `app.create_app`'s cleanup contexts, never held in module globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from proctor.catalog import Catalog
from proctor.clock import Clock
from proctor.content import ContentPack
from proctor.credit import CreditPolicy
from proctor.db import Database
from proctor.events import EventBus
from proctor.evidence import Evidence
from proctor.ledger import Ledger
from proctor.lockout import IpLimiter
from proctor.logins import Logins
from proctor.maintenance import Maintenance
from proctor.payments import PaymentProvider
from proctor.review import Review
from proctor.spmt import Spmt
from proctor.spmt_attempts import Attempts
from proctor.students import Students
from proctor.study import Electives

from .background import Background
from .cluster import ClusterBridge
from .config import Settings
from .limits import Limits
from .media.live_view import Viewers
from .media.registry import LiveRegistry
from .media.sessions import SessionStarter
from .metrics import Metrics
from .session_ends import LoginEnds
from .verify.outcome import NodeVerifier

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


@dataclass(frozen=True)
class Services:
    """The domain services every handler uses."""

    db: Database
    clock: Clock
    accounts: Logins
    students: Students
    ledger: Ledger
    catalog: Catalog
    policy: CreditPolicy
    maintenance: Maintenance
    ip_limiter: IpLimiter
    review: Review
    evidence: Evidence


@dataclass(frozen=True)
class SpmtServices:
    """Module tests: bookings and payments, attempts, and the payment provider they use."""

    bookings: Spmt
    attempts: Attempts
    provider: PaymentProvider


SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
SERVICES = web.AppKey("services", Services)
VERIFIER: web.AppKey[NodeVerifier] = web.AppKey("verifier")
LIVE = web.AppKey("live", LiveRegistry)
STARTER = web.AppKey("starter", SessionStarter)
EVENTS = web.AppKey("events", EventBus)
VIEWERS = web.AppKey("viewers", Viewers)
WEBSOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("websockets")
CLUSTER: web.AppKey[ClusterBridge | None] = web.AppKey("cluster")
CONTENT = web.AppKey("content", ContentPack)  # the installed lessons (an empty pack when none)
ELECTIVES = web.AppKey("electives", Electives)
BACKGROUND = web.AppKey("background", Background)  # work started after answering (e.g. sending a code)
LIMITS = web.AppKey("limits", Limits)  # rate limits on codes, enrollments and offers
LOGIN_ENDS = web.AppKey("login_ends", LoginEnds)
SPMT = web.AppKey("spmt", SpmtServices)
