"""One observation's reads in one JSON-RPC batch: balances, contract calls, the head block.

In: a list of `Read`s. Out: their decoded values in the same order. Falls back to concurrent
single requests when the node refuses batches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from web3 import AsyncWeb3


@dataclass(frozen=True)
class Read:
    """`kind` is "balance" (address), "call" (contract function with args) or "block"."""

    kind: str
    address: str | None = None
    contract: Any = None  # a web3 AsyncContract
    function: str | None = None
    args: tuple = ()

    def request(self, w3: AsyncWeb3):
        if self.kind == "balance":
            return w3.eth.get_balance(self.address)
        if self.kind == "block":
            return w3.eth.get_block("latest")
        return self.contract.functions[self.function](*self.args)


async def batch_read(w3: AsyncWeb3, reads: list[Read]) -> list[Any]:
    if not reads:
        return []
    try:
        async with w3.batch_requests() as batch:
            for r in reads:
                batch.add(r.request(w3))
            return list(await batch.async_execute())
    except (NotImplementedError, TypeError, ValueError):
        return list(await asyncio.gather(*(_single(w3, r) for r in reads)))


async def _single(w3: AsyncWeb3, r: Read) -> Any:
    if r.kind in ("balance", "block"):
        return await r.request(w3)
    return await r.request(w3).call()
