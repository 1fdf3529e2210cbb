"""One async SQLAlchemy database: SQLite (aiosqlite) by default, any async URL in production.
Stores (agent steps, oracle rounds) declare their tables on `Base` and share this plumbing."""

from __future__ import annotations

import asyncio
import weakref
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from concilium.errors import StoreError
from concilium.migrations import Chain, upgrade

ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}  # backend -> the async driver we ship


def parse_store_url(url: str) -> URL:
    """An SQLAlchemy URL with an async driver we support, or a StoreError that says what to write."""
    try:
        u = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreError(f"{url[:80]!r} is not a database URL; write sqlite+aiosqlite:///path/state.db "
                         "or postgresql+asyncpg://user@host/db") from None
    backend, driver = u.get_backend_name(), u.get_driver_name()
    want = ASYNC_DRIVERS.get(backend)
    if want is None:
        raise StoreError(f"database {backend!r} is not supported; use sqlite+aiosqlite:// or postgresql+asyncpg://")
    if driver != want:
        shown = u.set(drivername=f"{backend}+{want}").render_as_string(hide_password=True)
        raise StoreError(f"{u.render_as_string(hide_password=True)} names the {driver} driver; the state store needs "
                         f"the async driver: write {shown}")
    return u


def describe(url: str | URL) -> str:
    """The URL for messages and logs: password hidden."""
    return make_url(url).render_as_string(hide_password=True)


@asynccontextmanager
async def store_errors(url: str, doing: str) -> AsyncIterator[None]:
    """Database failures (unreachable server, wrong password, no such table) as one StoreError line."""
    try:
        yield
    except (SQLAlchemyError, OSError) as e:
        cause = getattr(e, "orig", None) or e
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
        raise StoreError(f"cannot {doing} at {describe(url)}: {first}") from None


class Base(DeclarativeBase):
    pass


# One migration at a time in this process: Alembic's EnvironmentContext is process-global state,
# and SQLite has no transactional DDL to serialise on (PostgreSQL also takes an advisory lock).
_MIGRATING: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _migrating() -> asyncio.Lock:
    return _MIGRATING.setdefault(asyncio.get_running_loop(), asyncio.Lock())


class Database:
    migrations: Chain  # the migration chain that owns this store's tables

    def __init__(self, url: str, migrate: bool = True):
        """`migrate=False` opens an existing database without touching its schema (for readers)."""
        parse_store_url(url)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.url = url
        self.migrate = migrate
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._ready = False
        self._init_lock = asyncio.Lock()

    @classmethod
    def sqlite(cls, path):
        return cls(f"sqlite+aiosqlite:///{path}")

    async def init(self):
        async with self._init_lock:
            if not self._ready:
                if self.migrate:
                    async with _migrating(), store_errors(self.url, "migrate the database"), \
                            self.engine.begin() as conn:
                        await conn.run_sync(upgrade, self.migrations)
                self._ready = True
        return self

    @property
    def sync_url(self) -> str:
        """The same database for synchronous clients (APScheduler's job store)."""
        u = make_url(self.url)
        return u.set(drivername={"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}[u.get_backend_name()]) \
            .render_as_string(hide_password=False)

    async def close(self) -> None:
        await self.engine.dispose()
