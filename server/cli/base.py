"""Shared pieces of the CLI handlers: the one-line error, JSON output, progress policy, settings and the
database every admin command opens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from proctor.db import Database, DatabaseError

from ..config import ConfigError, Settings, load_settings

T = TypeVar("T")
Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """Bad input or a refused operation: one line on stderr, exit status 2."""


def emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only for a person at a terminal, never with --json."""
    return not getattr(args, "json", False) and sys.stderr.isatty()


def settings_from(args: argparse.Namespace, **overrides: Any) -> Settings:
    try:
        return load_settings(args.config, db=args.db, **overrides)
    except ConfigError as exc:
        raise CliError(str(exc)) from None


async def open_db(url: str) -> Database:
    try:
        db = Database.from_url(url)
        await db.migrate()  # every command creates or upgrades the schema as needed
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot open the database {url}: {exc}") from None
    return db


def with_db(args: argparse.Namespace, fn: Callable[[Database], Awaitable[T]]) -> T:
    """Run `fn` on the configured database, opened and closed around it."""
    settings = settings_from(args)

    async def run() -> T:
        db = await open_db(settings.db_url())
        try:
            return await fn(db)
        finally:
            await db.aclose()

    return asyncio.run(run())
