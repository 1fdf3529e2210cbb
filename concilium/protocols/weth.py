"""WETH9: wrap ETH (deposit) and unwrap it (withdraw)."""

from __future__ import annotations

from concilium.protocols.call import Call, encode


def wrap(weth: str, wei: int) -> Call:
    return encode("weth9", weth, "deposit", value=wei)


def unwrap(weth: str, wei: int) -> Call:
    return encode("weth9", weth, "withdraw", wei)
