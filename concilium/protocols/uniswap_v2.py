"""Uniswap v2: exact-input swaps through Router02, quotes (`getAmountsOut`), pool reserves."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from eth_utils import to_checksum_address
from web3 import AsyncWeb3

from concilium.protocols.call import Call, contract, encode

ZERO = "0x0000000000000000000000000000000000000000"


def swap_exact_in(router: str, amount_in: int, min_out: int, path: list[str], recipient: str, deadline: int) -> Call:
    return encode("uniswap_v2_router", router, "swapExactTokensForTokens", amount_in, min_out,
                  [to_checksum_address(t) for t in path], to_checksum_address(recipient), deadline)


def add_liquidity(router: str, a: str, b: str, amount_a: int, amount_b: int, recipient: str, deadline: int) -> Call:
    return encode("uniswap_v2_router", router, "addLiquidity", to_checksum_address(a), to_checksum_address(b),
                  amount_a, amount_b, 0, 0, to_checksum_address(recipient), deadline)


async def quote(w3: AsyncWeb3, router: str, amount_in: int, path: list[str]) -> int:
    """What `amount_in` of path[0] buys of path[-1] now (fees included)."""
    amounts = await contract(w3, "uniswap_v2_router", router).functions.getAmountsOut(
        amount_in, [to_checksum_address(t) for t in path]).call()
    return int(amounts[-1])


@dataclass(frozen=True)
class Reserves:
    pair: str
    reserve_a: int  # of token a, base units
    reserve_b: int

    def price(self, decimals_a: int, decimals_b: int) -> Fraction:
        """Mid price: units of b per unit of a."""
        return Fraction(self.reserve_b * 10**decimals_a, self.reserve_a * 10**decimals_b)

    def mid_out(self, amount_in: int) -> int:
        """What `amount_in` of a is worth in b at the mid price (no fee, no price impact)."""
        return amount_in * self.reserve_b // self.reserve_a


async def reserves(w3: AsyncWeb3, factory: str, a: str, b: str) -> Reserves | None:
    """The a/b pair's reserves, or None when no pair exists."""
    pair = await contract(w3, "uniswap_v2_factory", factory).functions.getPair(to_checksum_address(a), to_checksum_address(b)).call()
    if pair == ZERO:
        return None
    p = contract(w3, "uniswap_v2_pair", pair)
    r0, r1, _ = await p.functions.getReserves().call()
    token0 = await p.functions.token0().call()
    ra, rb = (r0, r1) if token0 == to_checksum_address(a) else (r1, r0)
    return Reserves(pair, int(ra), int(rb))
