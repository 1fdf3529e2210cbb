"""Follows the oracle contract's events, trailing the head by N confirmations, in bounded
block ranges, from a cursor the node persists: a restart resumes where it stopped."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from web3.exceptions import Web3Exception

from concilium.errors import ChainError

log = logging.getLogger("concilium.oracle.watcher")
Handler = Callable[[str, dict], Awaitable[None]]  # (event name, decoded event)


class Watcher:
    EVENTS = ("Requested", "Fulfilled", "Unanswered", "Cancelled")

    def __init__(self, contract, confirmations: int, load_cursor: Callable[[], Awaitable[int | None]],
                 save_cursor: Callable[[int], Awaitable[None]], handle: Handler,
                 poll: float = 0.25, max_range: int = 2000, start_block: int | None = None):
        self.contract = contract
        self.w3 = contract.w3
        self.confirmations = confirmations
        self.load_cursor, self.save_cursor, self.handle = load_cursor, save_cursor, handle
        self.poll, self.max_range, self.start_block = poll, max_range, start_block

    async def run_forever(self) -> None:
        cursor = await self.load_cursor()
        if cursor is None:
            cursor = (self.start_block if self.start_block is not None else await self.w3.eth.block_number) - 1
        backoff = self.poll
        while True:
            try:
                cursor = await self.sync(cursor)
                backoff = self.poll
            except (ChainError, Web3Exception, OSError) as e:
                log.warning("event sync failed; retrying", extra={"error": str(e)[:200], "retry_in": backoff})
                backoff = min(backoff * 2, 10.0)
            await asyncio.sleep(backoff)

    async def sync(self, cursor: int) -> int:
        """Process confirmed blocks after `cursor`; returns the new cursor."""
        head = await self.w3.eth.block_number - self.confirmations
        while cursor < head:
            to = min(head, cursor + self.max_range)
            logs = []
            for name in self.EVENTS:
                for e in await self.contract.events[name]().get_logs(from_block=cursor + 1, to_block=to):
                    logs.append((e["blockNumber"], e["logIndex"], name, e))
            for _, _, name, e in sorted(logs, key=lambda x: (x[0], x[1])):
                await self.handle(name, e)
            cursor = to
            await self.save_cursor(cursor)
        return cursor
