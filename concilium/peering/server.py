"""FastAPI glue for `PeerGuard`: an ASGI body limit that refuses an oversized or unsized body
before reading it, and `authenticate(guard)`, a dependency that yields the calling member and
the raw body (routes parse it themselves, after the signature is checked)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from concilium.peering.guard import PeerGuard, Refused


@dataclass(frozen=True)
class PeerCall:
    peer: str
    body: bytes


class BodyLimit:
    """Refuse bodies over `max_bytes` (413) and request bodies of unknown length (411)."""

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/v1/"):
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix) and scope["method"] in ("POST", "PUT"):
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is None or not length.isdigit():
                return await _refuse(send, 411, "a Content-Length is required")
            if int(length) > self.max_bytes:
                return await _refuse(send, 413, f"body of {int(length)} bytes is over the cap of {self.max_bytes}")
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = ('{"detail": "%s"}' % detail).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def authenticate(guard: PeerGuard, on_refused=None):
    """A FastAPI dependency: the authenticated call, or the guard's refusal as an HTTP error."""

    async def dependency(request: Request) -> PeerCall:
        body = await request.body()
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            peer = await guard.check(request.method, path, request.headers, body)
        except Refused as e:
            if on_refused is not None:
                on_refused(e)
            raise HTTPException(e.status, str(e)) from None
        return PeerCall(peer, body)

    return dependency
