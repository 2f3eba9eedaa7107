"""Every SQL test runs on SQLite and on PostgreSQL: one fixture pair for the whole suite.

PostgreSQL isolation: each test gets its own schema (first on search_path), dropped afterwards.
`make test` needs the server at PROCTOR_TEST_PG (default 127.0.0.1:5432): a missing one fails the
test rather than skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from proctor.db import Database

PG_URL = os.environ.get("PROCTOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

OpenDb = Callable[..., Awaitable[Database]]  # open_db(migrate=True)


def pg_dsn() -> str:
    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def open_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenDb]:
    """A factory of migrated Databases on one fresh, private database (all closed at teardown)."""
    opened: list[Database] = []
    schema: str | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'proctor.db'}"
        connect_args: dict[str, object] = {}
    else:
        try:
            admin = await asyncpg.connect(pg_dsn(), timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as e:
            pytest.fail(f"PostgreSQL not reachable at {PG_URL} (make test needs it; set PROCTOR_TEST_PG): {e}")
        schema = f"t_{uuid.uuid4().hex[:16]}"
        try:
            await admin.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await admin.close()
        url = PG_URL
        connect_args = {"server_settings": {"search_path": schema}}

    async def factory(migrate: bool = True) -> Database:
        db = Database.from_url(url, connect_args=connect_args)
        opened.append(db)
        if migrate:
            await db.migrate()
        return db

    try:
        yield factory
    finally:
        for db in opened:
            await db.aclose()
        if schema is not None:
            admin = await asyncpg.connect(pg_dsn(), timeout=5)
            try:
                await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            finally:
                await admin.close()


@pytest.fixture
async def db(open_db: OpenDb) -> Database:
    """One migrated, private database (SQLite and PostgreSQL)."""
    return await open_db()
