"""Follows the oracle contract's events, trailing the head by N confirmations, in bounded block
ranges, from a cursor the node persists: a restart resumes where it stopped.

Raw logs in, typed messages out (`events.py`), one log at a time: a log that cannot be decoded
or handled for good (bad data, a value the store cannot hold) is handed to `skip` with its
reason and the cursor moves past it; a transient failure (RPC, database busy) retries the range.
`status` is what `/health` and the metrics read: liveness, head, cursor, lag, skipped count."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from hexbytes import HexBytes
from sqlalchemy.exc import OperationalError
from web3.exceptions import Web3Exception

from concilium.errors import ChainError
from concilium.oracle.events import EVENTS, EventRef, Limits, Message, Unprocessable, decode_log, ref_of

log = logging.getLogger("concilium.oracle.watcher")
Handler = Callable[[Message], Awaitable[None]]
Skip = Callable[[EventRef, str], Awaitable[None]]
TRANSIENT = (ChainError, Web3Exception, OSError, asyncio.TimeoutError, OperationalError)


@dataclass
class WatcherStatus:
    started_at: float = field(default_factory=time.time)
    last_sync_at: float | None = None
    head: int | None = None
    cursor: int | None = None
    skipped: int = 0
    last_error: str | None = None

    @property
    def lag(self) -> int | None:
        return None if self.head is None or self.cursor is None else max(0, self.head - self.cursor)

    def alive(self, stale_after: float) -> bool:
        return time.time() - (self.last_sync_at or self.started_at) <= stale_after

    def as_dict(self, stale_after: float) -> dict:
        return {"alive": self.alive(stale_after), "head": self.head, "cursor": self.cursor, "lag": self.lag,
                "last_sync_age": None if self.last_sync_at is None else round(time.time() - self.last_sync_at, 3),
                "skipped": self.skipped, "last_error": self.last_error}


class Watcher:
    name = "watcher"

    def __init__(self, contract, confirmations: int, load_cursor: Callable[[], Awaitable[int | None]],
                 save_cursor: Callable[[int], Awaitable[None]], handle: Handler, skip: Skip,
                 poll: float = 0.25, max_range: int = 2000, start_block: int | None = None, limits: Limits = Limits()):
        self.contract = contract
        self.w3 = contract.w3
        self.confirmations = confirmations
        self.load_cursor, self.save_cursor, self.handle, self.skip = load_cursor, save_cursor, handle, skip
        self.poll, self.max_range, self.start_block, self.limits = poll, max_range, start_block, limits
        self.status = WatcherStatus()
        self.topics = [HexBytes(contract.events[n].topic).to_0x_hex() for n in EVENTS]
        self._cursor: int | None = None

    async def setup(self) -> None:
        cursor = await self.load_cursor()
        if cursor is None:
            cursor = (self.start_block if self.start_block is not None else await self.w3.eth.block_number) - 1
        self._cursor = self.status.cursor = cursor

    async def run_forever(self) -> None:
        backoff = self.poll
        while True:
            try:
                self._cursor = await self.sync(self._cursor)
                backoff = self.poll
            except TRANSIENT as e:
                self.status.last_error = f"{type(e).__name__}: {e}"[:200]
                log.warning("event sync failed; retrying", extra={"error": self.status.last_error, "retry_in": backoff})
                backoff = min(backoff * 2, 10.0)
            await asyncio.sleep(backoff)

    async def cleanup(self) -> None:
        return None

    async def sync(self, cursor: int) -> int:
        """Process confirmed blocks after `cursor`; returns the new cursor."""
        head = await self.w3.eth.block_number - self.confirmations
        self.status.head = head
        while cursor < head:
            to = min(head, cursor + self.max_range)
            raw = await self.w3.eth.get_logs({"address": self.contract.address, "fromBlock": cursor + 1, "toBlock": to,
                                               "topics": [self.topics]})
            for entry in sorted(raw, key=lambda x: (int(x["blockNumber"]), int(x["logIndex"]))):
                await self._one(entry)
            cursor = self.status.cursor = to
            await self.save_cursor(cursor)
        self.status.last_sync_at = time.time()
        self.status.last_error = None
        return cursor

    async def _one(self, raw: dict) -> None:
        try:
            msg = decode_log(self.contract, raw, self.limits)
        except Unprocessable as e:
            return await self._skip(ref_of(raw), str(e))
        try:
            await self.handle(msg)
        except TRANSIENT:
            raise
        except Exception as e:  # noqa: BLE001 - bad data the node cannot hold: skip it, go on
            await self._skip(msg.ref, f"cannot be handled: {type(e).__name__}: {str(e)[:160]}")

    async def _skip(self, ref: EventRef, reason: str) -> None:
        self.status.skipped += 1
        log.warning("event skipped", extra={"block": ref.block, "log_index": ref.log_index, "tx": ref.tx, "reason": reason})
        await self.skip(ref, reason)
