"""Dry-run a transaction with eth_call before it is signed: a revert refuses it."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import AsyncWeb3
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from concilium.chain.revert import describe_revert


@dataclass(frozen=True)
class Simulation:
    ok: bool
    gas: int | None = None
    error: str | None = None


async def simulate(w3: AsyncWeb3, tx: dict) -> Simulation:
    call = {k: tx[k] for k in ("from", "to", "value", "data") if k in tx}
    try:
        await w3.eth.call(call, "pending")
        gas = await w3.eth.estimate_gas(call, "pending")
        return Simulation(True, gas=int(gas))
    except ContractCustomError as e:
        return Simulation(False, error=f"reverted: {describe_revert(getattr(e, 'data', None) or e.message)}")
    except ContractLogicError as e:
        return Simulation(False, error=f"reverted: {e.message or e}")
    except Web3RPCError as e:
        return Simulation(False, error=f"rejected by the node: {e.message or e}")
