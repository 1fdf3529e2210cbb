"""RPC transport with failover: one AsyncWeb3 over several JSON-RPC URLs.

A request goes to the current endpoint; on a connection error or timeout it moves to the next,
and after a full round of failures backs off and tries again, up to `rounds` times. Errors the
node returns (reverts, bad params) are answers, not failures, and are not retried.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import ClientError
from web3 import AsyncWeb3
from web3.providers.async_base import AsyncJSONBaseProvider
from web3.providers.rpc import AsyncHTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from concilium.chain.sessionlock import install as install_session_lock
from concilium.errors import ChainError

log = logging.getLogger("concilium.chain.rpc")
install_session_lock()  # web3's own can wedge every HTTP request of the process (sessionlock.py)
_TRANSPORT_ERRORS = (ClientError, TimeoutError, OSError, asyncio.TimeoutError)


class FailoverProvider(AsyncJSONBaseProvider):
    def __init__(self, urls: list[str], timeout: float = 10.0, rounds: int = 3, backoff: float = 0.25):
        if not urls:
            raise ChainError("no RPC URL configured; give chains.<name>.rpc")
        super().__init__()
        self.urls = list(urls)
        self._providers = [
            AsyncHTTPProvider(u, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
            for u in urls
        ]
        self._current = 0
        self.rounds = rounds
        self.backoff = backoff

    def __str__(self) -> str:
        return f"failover over {len(self.urls)} RPC URL(s), current {self.urls[self._current]}"

    @property
    def current_url(self) -> str:
        return self.urls[self._current]

    async def _call(self, fn_name: str, *args: Any) -> Any:
        last: BaseException | None = None
        for attempt in range(self.rounds):
            for _ in range(len(self._providers)):
                index = self._current
                try:
                    return await getattr(self._providers[index], fn_name)(*args)
                except _TRANSPORT_ERRORS as e:
                    last = e
                    nxt = (index + 1) % len(self._providers)
                    if self._current == index:
                        self._current = nxt
                    if len(self._providers) > 1:
                        log.warning("rpc endpoint failed, failing over", extra={"url": self.urls[index], "next": self.urls[nxt], "error": type(e).__name__})
            await asyncio.sleep(self.backoff * 2**attempt)
        raise ChainError(
            f"every RPC endpoint failed ({', '.join(self.urls)}): {type(last).__name__}: {last}; "
            "check that the node is running and the URL is right"
        )

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return await self._call("make_request", method, params)

    async def make_batch_request(self, requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        return await self._call("make_batch_request", requests)

    async def is_connected(self, show_traceback: bool = False) -> bool:
        for p in self._providers:
            if await p.is_connected():
                return True
        return False

    async def disconnect(self) -> None:
        for p in self._providers:
            await p.disconnect()


def connect(urls: list[str], timeout: float = 10.0) -> AsyncWeb3:
    return AsyncWeb3(FailoverProvider(urls, timeout=timeout))
