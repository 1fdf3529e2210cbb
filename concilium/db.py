"""One async SQLAlchemy database: SQLite (aiosqlite) by default, any async URL in production.
Stores (agent steps, oracle rounds) declare their tables on `Base` and share this plumbing."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from concilium.errors import StoreError

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


class Database:
    models: tuple[type[Base], ...] = ()  # the tables this store owns

    def __init__(self, url: str):
        parse_store_url(url)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        self.url = url
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
                tables = [m.__table__ for m in self.models]
                async with self.engine.begin() as conn:
                    await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=tables))
                self._ready = True
        return self

    async def close(self) -> None:
        await self.engine.dispose()
