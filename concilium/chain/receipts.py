"""Waiting for a receipt, then for N confirmations on top of it."""

from __future__ import annotations

import asyncio
import time

from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound

from concilium.errors import ChainError


async def receipt_if_mined(w3: AsyncWeb3, tx_hash: str | bytes):
    try:
        return await w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    except TransactionNotFound:
        return None


async def wait_for_receipt(w3: AsyncWeb3, tx_hash: str | bytes, confirmations: int = 0,
                           timeout: float = 120.0, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        receipt = await receipt_if_mined(w3, tx_hash)
        if receipt is not None:
            if confirmations == 0 or await w3.eth.block_number - receipt["blockNumber"] >= confirmations:
                return receipt
        if time.monotonic() > deadline:
            raise ChainError(f"transaction {HexBytes(tx_hash).to_0x_hex()} not confirmed after {timeout:.0f} s; it may still land, check the chain")
        await asyncio.sleep(poll)
