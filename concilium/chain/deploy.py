"""Deploy one of our compiled contracts (concilium/artifacts) and wait for it."""

from __future__ import annotations

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet
from concilium.errors import ChainError


async def deploy(chain: ChainClient, wallet: Wallet, name: str, *args) -> str:
    art = artifact(name)
    factory = chain.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    data = factory.constructor(*args).data_in_transaction
    fees = await chain.fees()
    gas = await chain.w3.eth.estimate_gas({"from": wallet.address, "data": data})
    signed = await chain.send(wallet, {"data": data, "gas": int(gas * 1.2), **fees.as_tx()})
    receipt = await chain.wait(signed.hash)
    if receipt["status"] != 1:
        raise ChainError(f"deploying {name} reverted (tx {signed.hash})")
    return receipt["contractAddress"]
