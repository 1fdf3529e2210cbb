"""The oracle node's long-lived tasks besides the watcher, in the lifecycle of
`concilium.lifecycle` (setup, run_forever, cleanup): its HTTP endpoint and the expiry sweep."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from concilium.httpserver import HttpServer


class Expiry:
    """Every few seconds: drop the rounds past their deadline (a supervised node task)."""

    name = "expiry"

    def __init__(self, sweep: Callable[[], Awaitable[None]], every: float = 2.0):
        self.sweep, self.every = sweep, every

    async def setup(self) -> None:
        return None

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.sweep()

    async def cleanup(self) -> None:
        return None


class ServedApp:
    """The node's HTTP endpoint as a supervised task: it counts as dead if uvicorn exits."""

    name = "http"

    def __init__(self, server: HttpServer):
        self.server = server

    async def setup(self) -> None:
        if self.server.task is None or self.server.task.done():
            await self.server.start()

    async def run_forever(self) -> None:
        await asyncio.shield(self.server.task)

    async def cleanup(self) -> None:
        return None
