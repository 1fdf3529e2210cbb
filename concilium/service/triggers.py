"""Chain-driven schedules: step an agent every N new blocks, or when a contract emits an
event matching `where`. Each is a long-lived task polling the agent's chain."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from web3.exceptions import Web3Exception

from concilium.errors import ChainError

log = logging.getLogger("concilium.service.triggers")
Fire = Callable[[str], Awaitable[None]]  # called with a reason


async def on_blocks(w3, every: int, fire: Fire, poll: float = 0.5) -> None:
    last = await w3.eth.block_number
    while True:
        await asyncio.sleep(poll)
        try:
            head = await w3.eth.block_number
        except (ChainError, Web3Exception, OSError) as e:
            log.warning("block poll failed", extra={"error": str(e)[:200]})
            continue
        if head - last >= every:
            last = head
            await fire(f"block {head}")


async def on_event(contract, event: str, where: dict, resolve: Callable[[object], object], fire: Fire, poll: float = 0.5) -> None:
    """`where` maps event argument names to values; names of YAML addresses are resolved."""
    w3 = contract.w3
    cursor = await w3.eth.block_number
    wanted = {k: resolve(v) for k, v in where.items()}
    while True:
        await asyncio.sleep(poll)
        try:
            head = await w3.eth.block_number
            if head <= cursor:
                continue
            logs = await contract.events[event]().get_logs(from_block=cursor + 1, to_block=head)
        except (ChainError, Web3Exception, OSError) as e:
            log.warning("event poll failed", extra={"error": str(e)[:200]})
            continue
        cursor = head
        for e in logs:
            if all(_equal(e["args"].get(k), v) for k, v in wanted.items()):
                await fire(f"{event} in block {e['blockNumber']}")
                break  # one step per batch of matching events: missed runs coalesce


def _equal(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b
