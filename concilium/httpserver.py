"""A uvicorn server inside our event loop, started and stopped with the service that owns it
(the agent service's API, each oracle node's peer endpoint)."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI

from concilium.errors import StackError

MAX_BODY = 1 << 20  # request bodies larger than this get 413 before the app sees them


class BodyLimit:
    """ASGI middleware: reads the request body up to `limit` bytes, answers 413 past that
    (whether or not Content-Length was sent or honest), and hands the app the buffered body."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._too_large(send)
        body, more = b"", True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.limit:
                return await self._too_large(send)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send) -> None:
        detail = b'{"detail":"request body larger than %d bytes"}' % self.limit
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(detail)).encode())]})
        await send({"type": "http.response.body", "body": detail})


class HttpServer:
    def __init__(self, app: FastAPI, host: str, port: int, what: str = "server", max_body: int = MAX_BODY):
        self.url = f"http://{host}:{port}"
        self.what = what
        config = uvicorn.Config(BodyLimit(app, max_body), host=host, port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
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
