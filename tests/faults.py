"""Fault injection at the network boundary: a TCP proxy in front of a real server that can be
switched off (connections refused) and on again. It stands for a model server or RPC node
going down; the happy path through it is the real server."""

from __future__ import annotations

import asyncio
import json

import httpx
from fastapi import FastAPI, Request, Response

from concilium.httpserver import HttpServer
from concilium.stack.process import free_port


class SwitchableProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def up(self) -> "SwitchableProxy":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._conns):
                w.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._conns.update((writer, uw))

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                w.close()
                self._conns.discard(w)

        await asyncio.gather(pipe(reader, uw), pipe(ur, writer))


class RefusingMethods:
    """A JSON-RPC provider that answers "method not found" for `methods` and passes everything
    else to the real one: a node that lacks some tracing API."""

    def __init__(self, provider, methods: set[str]):
        self.provider, self.methods = provider, methods

    async def make_request(self, method, params):
        if method in self.methods:
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": f"the method {method} does not exist/is not available"}}
        return await self.provider.make_request(method, params)


class CorruptingModelProxy:
    """An OpenAI-compatible front for a real vLLM server that passes every request through and
    puts a NUL character into each chat completion's text: what a model server whose guided
    decoding let a control character through would return."""

    def __init__(self, target_url: str):
        self.target = target_url.rstrip("/").removesuffix("/v1")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def forward(path: str, request: Request) -> Response:
            async with httpx.AsyncClient(timeout=120) as c:
                r = await c.request(request.method, f"{self.target}/{path}", content=await request.body(),
                                    headers={"content-type": request.headers.get("content-type", "application/json")})
            body = r.content
            if path.endswith("chat/completions") and r.status_code == 200:
                data = json.loads(body)
                for choice in data.get("choices", []):
                    text = choice["message"].get("content") or ""
                    choice["message"]["content"] = text[:12] + "\u0000" + text[12:]
                body = json.dumps(data).encode()
            return Response(body, r.status_code, media_type="application/json")

        self.app = app
        self._server = None

    async def up(self) -> "CorruptingModelProxy":
        self._server = await HttpServer(self.app, "127.0.0.1", self.port, "corrupting model proxy").start()
        return self

    async def down(self) -> None:
        if self._server is not None:
            await self._server.stop()
