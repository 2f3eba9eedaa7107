"""Database engine and schema migrations.

SQLite is the default (one file, WAL, `synchronous=FULL` so a committed interval survives kill -9
or power loss); PostgreSQL is chosen by URL. Both run on SQLAlchemy's asyncio engine (aiosqlite,
asyncpg). Alembic is configured in code: no alembic.ini, `script_location` is this package's
`migrations/` folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Arbitrary constant key for pg_advisory_xact_lock, so concurrent migrators (a CLI command while the
# server starts) take turns instead of racing to create the same tables.
_PG_MIGRATION_LOCK = 0x70726F63  # "proc"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class DatabaseError(Exception):
    """A database URL or schema problem the operator must fix."""


def normalize_url(url: str | URL) -> URL:
    """Map a user-facing URL onto its async driver: sqlite → aiosqlite, postgresql → asyncpg."""
    try:
        parsed = make_url(url)
    except Exception as e:  # sqlalchemy.exc.ArgumentError, ValueError
        raise DatabaseError(f"invalid database URL {url!r}: {e}") from e
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseError(
            f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:///path or postgresql://…"
        )
    return parsed.set(drivername=driver)


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or (url.database or "").startswith("file::memory:")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Per connection: foreign_keys, synchronous and secure_delete are connection settings; WAL
    # persists in the file but setting it again is cheap and covers a file created by something else.
    # secure_delete zeroes deleted content (purged snapshots, rejected reference photos) instead of
    # leaving it in free pages; it costs some extra writes on DELETE only and changes no file format.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
    finally:
        cursor.close()


def alembic_config() -> Config:
    """Alembic configuration built in code, pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def _head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


class Database:
    """An async engine plus session factory for one database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False
        )
        self._head: str | None = None

    @classmethod
    def from_url(
        cls, url: str | URL, *, connect_args: Mapping[str, Any] | None = None, echo: bool = False
    ) -> Database:
        """`sqlite:///path`, `sqlite+aiosqlite:///path`, `postgresql://…`, `postgresql+asyncpg://…`.

        `connect_args` go to the driver (e.g. asyncpg `server_settings={"search_path": ...}`).
        The parent folder of a SQLite file is created.
        """
        u = normalize_url(url)
        args: dict[str, Any] = dict(connect_args or {})
        kwargs: dict[str, Any] = {"echo": echo}
        if u.get_backend_name() == "sqlite":
            args.setdefault("timeout", 30.0)  # busy timeout while another connection writes
            if _is_memory(u):
                kwargs["poolclass"] = StaticPool  # one shared connection, else each has its own DB
            else:
                assert u.database is not None
                path = Path(u.database).expanduser()
                path.parent.mkdir(parents=True, exist_ok=True)
                u = u.set(database=str(path))
        else:
            kwargs["pool_pre_ping"] = True
        engine = create_async_engine(u, connect_args=args, **kwargs)
        if u.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return cls(engine)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    async def migrate(self) -> None:
        """Create or upgrade the schema to the newest revision; cheap when already up to date."""
        if self._head is None:
            # Reading the revision scripts is file I/O: keep it off the event loop.
            self._head = await asyncio.to_thread(_head_revision)
        async with self.engine.connect() as conn:
            current = await conn.run_sync(_current_revision)
        if current == self._head:
            return
        async with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                # Take the write lock up front: the whole upgrade is one atomic transaction and a
                # concurrent migrator waits (busy timeout) rather than interleaving.
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif self.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            # Alembic re-reads the version inside this transaction, so a migrator that waited
            # for the lock finds the work done and does nothing.
            await conn.run_sync(_upgrade)

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current_revision)

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
