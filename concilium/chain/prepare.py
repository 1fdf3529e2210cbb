"""The one place a transaction gets its fees and gas limit before signing: EIP-1559 fees under
the caller's cap, and the simulated (or estimated) gas with a buffer for state that changes
between simulation and inclusion."""

from __future__ import annotations

from web3 import AsyncWeb3

from concilium.chain.fees import suggest_fees

GAS_FACTOR = 1.3
GAS_EXTRA = 10_000


async def prepare(w3: AsyncWeb3, tx: dict, sender: str, gas_used: int | None = None, fee_cap: int | None = None,
                  extra: int = GAS_EXTRA) -> dict:
    """`tx` (to, value, data) -> the same with gas and fees. `extra` is added headroom for calls
    whose gas varies with what they call back (an oracle's fulfilment)."""
    if gas_used is None:
        gas_used = int(await w3.eth.estimate_gas({"from": sender, **tx}))
    fees = await suggest_fees(w3, fee_cap)
    return {**tx, "gas": int(gas_used * GAS_FACTOR) + extra, **fees.as_tx()}
