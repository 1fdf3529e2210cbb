"""Uniswap v3: exact-input swaps (SwapRouter), quotes (QuoterV2), pool prices, and the pool
creation and liquidity calls (NonfungiblePositionManager) the devnet seeds its pool with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from fractions import Fraction
from math import isqrt

from eth_utils import to_checksum_address
from web3 import AsyncWeb3

from concilium.protocols.call import Call, contract, encode

ZERO = "0x0000000000000000000000000000000000000000"
Q96 = 2**96
MIN_TICK, MAX_TICK = -887272, 887272
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}


def sorted_pair(a: str, b: str) -> tuple[str, str]:
    a, b = to_checksum_address(a), to_checksum_address(b)
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


def sqrt_price_x96(price: Fraction, a: str, b: str, decimals_a: int, decimals_b: int) -> int:
    """The pool's sqrtPriceX96 for `price` units of b per unit of a."""
    raw = Fraction(price) * Fraction(10**decimals_b, 10**decimals_a)  # b base units per a base unit
    if sorted_pair(a, b)[0] != to_checksum_address(a):
        raw = 1 / raw  # the pool prices token1 in token0
    return isqrt(raw.numerator * Q96 * Q96 // raw.denominator)


def price_from_sqrt(sqrt_x96: int, a: str, b: str, decimals_a: int, decimals_b: int) -> Fraction:
    """Units of b per unit of a at the pool's sqrtPriceX96."""
    raw = Fraction(sqrt_x96 * sqrt_x96, Q96 * Q96)  # token1 per token0, base units
    if sorted_pair(a, b)[0] != to_checksum_address(a):
        raw = 1 / raw
    return raw * Fraction(10**decimals_a, 10**decimals_b)


def mid_out(sqrt_x96: int, token_in: str, token_out: str, amount_in: int) -> int:
    """What `amount_in` of token_in is worth in token_out at the pool's price (no fee, no impact)."""
    raw = price_from_sqrt(sqrt_x96, token_in, token_out, 0, 0)  # base units of out per base unit of in
    return int(amount_in * raw)


def swap_exact_in(router: str, token_in: str, token_out: str, fee: int, amount_in: int, min_out: int,
                  recipient: str, deadline: int) -> Call:
    params = (to_checksum_address(token_in), to_checksum_address(token_out), fee, to_checksum_address(recipient),
              deadline, amount_in, min_out, 0)
    return encode("uniswap_v3_router", router, "exactInputSingle", params)


def create_pool(positions: str, a: str, b: str, fee: int, sqrt_x96: int) -> Call:
    t0, t1 = sorted_pair(a, b)
    return encode("uniswap_v3_positions", positions, "createAndInitializePoolIfNecessary", t0, t1, fee, sqrt_x96)


def mint_full_range(positions: str, a: str, b: str, fee: int, amount_a: int, amount_b: int, recipient: str,
                    deadline: int) -> Call:
    """A liquidity position over the whole price range (min and max ticks for the fee's spacing)."""
    t0, t1 = sorted_pair(a, b)
    amount0, amount1 = (amount_a, amount_b) if t0 == to_checksum_address(a) else (amount_b, amount_a)
    spacing = TICK_SPACING[fee]
    lower, upper = -(MAX_TICK // spacing) * spacing, (MAX_TICK // spacing) * spacing
    params = (t0, t1, fee, lower, upper, amount0, amount1, 0, 0, to_checksum_address(recipient), deadline)
    return encode("uniswap_v3_positions", positions, "mint", params)


@dataclass(frozen=True)
class Quote:
    amount_out: int
    sqrt_price_after: int
    gas: int


async def quote(w3: AsyncWeb3, quoter: str, token_in: str, token_out: str, fee: int, amount_in: int) -> Quote:
    """What `amount_in` of token_in buys now in the fee tier's pool (QuoterV2, run with eth_call)."""
    params = (to_checksum_address(token_in), to_checksum_address(token_out), amount_in, fee, 0)
    out, sqrt_after, _, gas = await contract(w3, "uniswap_v3_quoter", quoter).functions.quoteExactInputSingle(params).call()
    return Quote(int(out), int(sqrt_after), int(gas))


@dataclass(frozen=True)
class PoolState:
    pool: str
    sqrt_price_x96: int
    tick: int
    liquidity: int


async def pool_state(w3: AsyncWeb3, factory: str, a: str, b: str, fee: int) -> PoolState | None:
    """The a/b pool of this fee tier, or None when it does not exist or has no price yet."""
    pool = await contract(w3, "uniswap_v3_factory", factory).functions.getPool(
        to_checksum_address(a), to_checksum_address(b), fee).call()
    if pool == ZERO:
        return None
    p = contract(w3, "uniswap_v3_pool", pool)
    slot0, liquidity = await asyncio.gather(p.functions.slot0().call(), p.functions.liquidity().call())
    if slot0[0] == 0:
        return None
    return PoolState(pool, int(slot0[0]), int(slot0[1]), int(liquidity))
