"""The calling side of the peer exchange: every request signed by this member's key.
A peer that is down or refuses is logged and skipped, never an error for the caller."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import httpx

from concilium.chain.wallets import Wallet
from concilium.peering.envelope import seal

log = logging.getLogger("concilium.peering")


class PeerClient:
    def __init__(self, realm: str, wallet: Wallet, peers: list[str], timeout: float = 5.0):
        self.realm, self.wallet = realm, wallet
        self.peers = [p.rstrip("/") for p in peers]
        self.http = httpx.AsyncClient(timeout=timeout)

    async def request(self, peer: str, method: str, path: str, body: bytes = b"") -> httpx.Response | None:
        url = peer + path
        signed_path = urlsplit(url).path + (f"?{urlsplit(url).query}" if urlsplit(url).query else "")
        env = seal(self.wallet, self.realm, method, signed_path, body)
        headers = {**env.headers(), "content-type": "application/json"}
        try:
            return await self.http.request(method, url, content=body if method != "GET" else None, headers=headers)
        except httpx.HTTPError as e:
            log.debug("peer unreachable", extra={"peer": peer, "error": str(e)[:200]})
            return None

    async def post_all(self, path: str, body: bytes) -> list[httpx.Response | None]:
        return list(await asyncio.gather(*(self.request(p, "POST", path, body) for p in self.peers)))

    async def get_all(self, path: str) -> list[httpx.Response | None]:
        return list(await asyncio.gather(*(self.request(p, "GET", path) for p in self.peers)))

    async def close(self) -> None:
        await self.http.aclose()
