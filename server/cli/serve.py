"""`proctor serve`: the server on embedded defaults (SQLite, in-process batcher), or as configured."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import ssl

from aiohttp import web

from models.backends import BackendError
from models.device import DeviceError
from models.weights import WeightsError
from proctor.passwords import hash_password

from ..app import create_app
from ..config import Settings
from ..keys import SERVICES
from .base import CliError, settings_from
from .content import ensure_demo_pack

USER_ERRORS = (WeightsError, DeviceError, BackendError)
DEMO_SRN = "DEMO0001"


def serve_settings(args: argparse.Namespace) -> Settings:
    """The settings `proctor serve` runs with: the file and environment, then its flags."""
    return settings_from(args, host=args.host, port=args.port, certfile=args.certfile, keyfile=args.keyfile,
                         redis_url=args.redis_url, node_id=args.node_id, backend=args.backend)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = serve_settings(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ssl_ctx = None
    if settings.https:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_ctx.load_cert_chain(settings.certfile, settings.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise CliError(f"cannot load the TLS certificate/key: {exc}") from None
    if settings.demo_content:
        ensure_demo_pack(settings)  # a fresh machine shows a working course
    scheme = "https" if ssl_ctx else "http"
    url = f"{scheme}://{settings.host}:{settings.port}/"

    async def factory() -> web.Application:
        app = create_app(settings)

        async def first_run(app: web.Application) -> None:
            services = app[SERVICES]
            if settings.demo and await services.students.count_users() == 0:
                password = secrets.token_urlsafe(9)
                await services.students.add_student(DEMO_SRN, "Demo Student", None,
                                                    await asyncio.to_thread(hash_password, password))
                print(f"\nFirst run: created a demo student.\n  SRN:      {DEMO_SRN}\n  Password: {password}\n"
                      "  (shown once; enroll your face from the webcam at first login)", flush=True)

        app.on_startup.append(first_run)
        return app

    def listening(_: str) -> None:  # run_app calls this once the socket accepts connections
        print(f"\nproctor is running at {url}  (Ctrl+C to stop)\n", flush=True)

    web.run_app(factory(), host=settings.host, port=settings.port, ssl_context=ssl_ctx, print=listening,
                access_log=None, shutdown_timeout=10)
    return 0
