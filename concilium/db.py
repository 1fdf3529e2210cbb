"""One async SQLAlchemy database: SQLite (aiosqlite) by default, any async URL in production.
Stores (agent steps, oracle rounds) declare their tables on `Base` and share this plumbing."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


class Database:
    models: tuple[type[Base], ...] = ()  # the tables this store owns

    def __init__(self, url: str):
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
