"""EIP-1559 fees: max fee = 2 x base fee + tip, never above the caller's cap."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import AsyncWeb3


@dataclass(frozen=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee: int

    def as_tx(self) -> dict[str, int]:
        return {"maxFeePerGas": self.max_fee_per_gas, "maxPriorityFeePerGas": self.max_priority_fee_per_gas}


async def suggest_fees(w3: AsyncWeb3, cap: int | None = None) -> Fees:
    block = await w3.eth.get_block("latest")
    base = int(block.get("baseFeePerGas", 0))
    try:
        tip = int(await w3.eth.max_priority_fee)
    except Exception:  # some nodes lack eth_maxPriorityFeePerGas
        tip = 10**9
    max_fee = 2 * base + tip
    if cap is not None and max_fee > cap:
        max_fee = cap
        tip = min(tip, max(cap - base, 0))
    return Fees(max_fee, tip, base)
