"""Deploy one of our compiled contracts (concilium/artifacts) and wait for it."""

from __future__ import annotations

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet


async def deploy(chain: ChainClient, wallet: Wallet, name: str, *args) -> str:
    art = artifact(name)
    factory = chain.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = await chain.transact(wallet, {"data": factory.constructor(*args).data_in_transaction}, f"deploying {name}")
    return receipt["contractAddress"]
