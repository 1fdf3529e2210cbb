"""A uvicorn server inside our event loop, started and stopped with the service that owns it
(the agent service's API, each oracle node's peer endpoint)."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI

from concilium.errors import StackError


class HttpServer:
    def __init__(self, app: FastAPI, host: str, port: int, what: str = "server"):
        self.url = f"http://{host}:{port}"
        self.what = what
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
        self.task: asyncio.Task | None = None

    async def start(self) -> "HttpServer":
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():  # uvicorn exits on a bind failure
                raise StackError(f"the {self.what} cannot listen on {self.url}: is the port in use?")
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        """Returns once the listening socket is closed, so the port can be reused at once."""
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait({self.task}, timeout=10)
