"""`Call`: one transaction's target, calldata and ETH value, as the protocol adapters build it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_utils import to_checksum_address
from web3 import AsyncWeb3, Web3

from concilium.chain.abi import load_abi


@dataclass(frozen=True)
class Call:
    to: str
    data: str
    value: int = 0

    def tx(self) -> dict[str, Any]:
        return {"to": self.to, "data": self.data, "value": self.value}


@lru_cache(maxsize=None)
def _encoder(abi_name: str):
    return Web3().eth.contract(abi=load_abi(abi_name))


def encode(abi_name: str, to: str, fn: str, *args: Any, value: int = 0) -> Call:
    """Calldata for `fn(*args)` of the protocol ABI `abi_name` (see concilium.chain.abi)."""
    return Call(to_checksum_address(to), _encoder(abi_name).encode_abi(fn, args=list(args)), value)


def contract(w3: AsyncWeb3, abi_name: str, address: str):
    return w3.eth.contract(address=to_checksum_address(address), abi=load_abi(abi_name))
