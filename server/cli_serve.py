"""CLI commands for the server side: `serve` and `students`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import ssl
import sys
from pathlib import Path
from typing import Any

from .cli_base import CliError, emit_json

DEMO_SRN = "DEMO0001"


def _db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="database URL: sqlite:///path or postgresql://… (default: PROCTOR_DB or a "
                                "SQLite file under PROCTOR_HOME)")
    p.add_argument("--config", type=Path, help="TOML settings file (see docs/configuration.md)")


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--certfile", help="TLS certificate (PEM); needed for a camera on any host but localhost")
    p.add_argument("--keyfile", help="TLS private key (PEM)")
    _db_args(p)
    p.set_defaults(handler=cmd_serve)

    students = sub.add_parser("students", help="manage students")
    ssub = students.add_subparsers(dest="students_command", required=True, parser_class=type(students))
    p = ssub.add_parser("add", help="add a student and enroll their reference photo(s)")
    p.add_argument("--srn", required=True, help="Student Registration Number")
    p.add_argument("--name", required=True)
    p.add_argument("--mobile")
    p.add_argument("--photo", type=Path, action="append", default=[], help="reference photo (repeatable)")
    p.add_argument("--password-stdin", action="store_true", help="read the initial password from stdin")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler=cmd_students_add)
    p = ssub.add_parser("unlock", help="lift a lockout after too many failed attempts")
    p.add_argument("srn")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler=cmd_students_unlock)


def settings_from(args: argparse.Namespace, **overrides: Any) -> Any:
    from .config import ConfigError, load_settings

    try:
        return load_settings(args.config, db=args.db, **overrides)
    except ConfigError as exc:
        raise CliError(str(exc)) from None


async def _open_db(url: str) -> Any:
    from proctor.db import Database, DatabaseError

    try:
        db = Database.from_url(url)
        await db.migrate()  # every command creates or upgrades the schema as needed
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot open the database {url}: {exc}") from None
    return db


def cmd_students_add(args: argparse.Namespace) -> int:
    from models import weights
    from models.engine import Engine
    from models.enroll import enroll, vectors_to_bytes
    from proctor.passwords import hash_password
    from proctor.students import StudentExists, Students

    settings = settings_from(args)
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < 8:
            raise CliError("the password must have at least 8 characters")
    photos = []
    for path in args.photo:
        try:
            photos.append(path.read_bytes())
        except OSError as exc:
            raise CliError(f"{path}: {exc.strerror or exc}") from None
    enrollment = None
    if photos:
        weights.fetch(settings.model, quiet=True)
        engine = Engine(settings.model, device=settings.device or None)
        enrollment = enroll(engine, photos)  # EnrollmentError → exit 2 with the reason

    async def run() -> int:
        db = await _open_db(settings.db_url())
        try:
            students = Students(db)
            try:
                user_id = await students.add_student(args.srn, args.name, args.mobile,
                                                     hash_password(password) if password else None)
            except StudentExists as exc:
                raise CliError(str(exc)) from None
            if enrollment is not None:
                dim = int(enrollment.embeddings.shape[1])
                for photo, vec in zip(enrollment.photos, vectors_to_bytes(enrollment.embeddings), strict=True):
                    await students.add_reference(user_id, photo, enrollment.model, [vec], dim)
                await students.set_enrollment_status(user_id, "approved")  # an operator's enrollment counts
            return user_id
        finally:
            await db.aclose()

    user_id = asyncio.run(run())
    out = {"id": user_id, "srn": args.srn.strip().upper(), "name": args.name,
           "enrollment": "approved" if enrollment else "none", "photos": len(photos)}
    if args.json:
        emit_json(out)
    else:
        print(f"added {out['srn']} ({args.name}); enrollment {out['enrollment']}")
    return 0


def cmd_students_unlock(args: argparse.Namespace) -> int:
    from proctor.clock import SystemClock
    from proctor.logins import Logins
    from proctor.students import Students

    settings = settings_from(args)

    async def run() -> bool:
        db = await _open_db(settings.db_url())
        try:
            user = await Students(db).get_by_srn(args.srn)
            if user is None:
                raise CliError(f"no student with SRN {args.srn.strip().upper()}")
            return await Logins(db, SystemClock()).unlock(user.id)
        finally:
            await db.aclose()

    was_locked = asyncio.run(run())
    srn = args.srn.strip().upper()
    if args.json:
        emit_json({"srn": srn, "was_locked": was_locked})
    else:
        print(f"{srn}: {'unlocked' if was_locked else 'was not locked'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .app import SERVICES, create_app

    settings = settings_from(args, host=args.host, port=args.port, certfile=args.certfile, keyfile=args.keyfile)
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
    scheme = "https" if ssl_ctx else "http"
    url = f"{scheme}://{settings.host}:{settings.port}/"

    async def factory() -> web.Application:
        app = create_app(settings)

        async def first_run(app: web.Application) -> None:
            services = app[SERVICES]
            if settings.demo and await services.students.count_users() == 0:
                from proctor.passwords import hash_password

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
