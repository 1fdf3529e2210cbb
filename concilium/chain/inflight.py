"""Settling a transaction that was signed and recorded but whose fate is unknown (the process
died, or the RPC failed, between record and receipt). By receipt if mined; as dropped if its
nonce was consumed by another transaction; otherwise by rebroadcasting the very same bytes
(same hash), so one recorded transaction never becomes two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from concilium.chain.client import ChainClient
from concilium.errors import TxRejected


@dataclass(frozen=True)
class Settled:
    receipt: Any | None  # None: dropped, never landed
    note: str = ""


async def settle_inflight(chain: ChainClient, tx_hash: str, raw: str, sender: str, nonce: int) -> Settled:
    if await chain.receipt(tx_hash) is None:
        if await chain.mined_nonce(sender) > nonce:
            return Settled(None, f"nonce {nonce} was used by another transaction; this one never landed")
        try:
            await chain.broadcast(raw)
        except TxRejected as e:
            return Settled(None, str(e))
    return Settled(await chain.wait(tx_hash))
