"""Alembic environment for proctor.

Normally run through `proctor.db.Database.migrate()`, which hands over an open connection in
`config.attributes["connection"]` (inside a transaction it commits). Without one (a developer
running `alembic -x url=... revision --autogenerate` with a hand-built config) it connects to
`sqlalchemy.url` itself with the async engine.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from proctor.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    from proctor.db import Database

    db = Database.from_url(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await db.aclose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; use Database.migrate()")

_connection = config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _url = config.get_main_option("sqlalchemy.url")
    if not _url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    asyncio.run(_run_standalone(_url))
