"""Nonces for concurrent senders sharing one account.

`async with nonces.next(address) as nonce:` hands out consecutive nonces under a per-account
lock held until the transaction is broadcast. If the block exits with an error the nonce was
not used, so the next caller re-reads the pending count from the chain instead of leaving a gap.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from web3 import AsyncWeb3


class NonceManager:
    def __init__(self, w3: AsyncWeb3):
        self.w3 = w3
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, int] = {}

    @asynccontextmanager
    async def next(self, address: str) -> AsyncIterator[int]:
        lock = self._locks.setdefault(address, asyncio.Lock())
        async with lock:
            chain_next = await self.w3.eth.get_transaction_count(address, "pending")
            nonce = max(chain_next, self._next.get(address, 0))
            try:
                yield nonce
            except BaseException:
                self._next.pop(address, None)  # unused: trust the chain next time
                raise
            self._next[address] = nonce + 1
