"""Morpho Blue: one market's supply, withdraw, collateral, borrow and repay calls, and a
position read (supplied, collateral, debt, health).

Amounts are loan-token or collateral-token base units. Shares convert to assets with Morpho's
virtual shares (SharesMathLib: 1e6 virtual shares, 1 virtual asset); the market totals are those
stored at its last interaction, so interest accrued since then is not yet counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from web3 import AsyncWeb3

from concilium.protocols.call import Call, contract, encode

WAD = 10**18
ORACLE_SCALE = 10**36
VIRTUAL_SHARES, VIRTUAL_ASSETS = 10**6, 1


@dataclass(frozen=True)
class MarketParams:
    loan_token: str
    collateral_token: str
    oracle: str
    irm: str
    lltv: int  # 1e18 = 100 %

    def as_tuple(self) -> tuple:
        return (to_checksum_address(self.loan_token), to_checksum_address(self.collateral_token),
                to_checksum_address(self.oracle), to_checksum_address(self.irm), self.lltv)

    @property
    def id(self) -> bytes:
        return keccak(abi_encode(["address", "address", "address", "address", "uint256"], list(self.as_tuple())))


def oracle_price(loan_per_collateral: Fraction, loan_decimals: int, collateral_decimals: int) -> int:
    """Morpho's oracle price: loan base units per collateral base unit, scaled by 1e36."""
    return int(Fraction(loan_per_collateral) * ORACLE_SCALE * 10**loan_decimals / 10**collateral_decimals)


def supply(morpho: str, m: MarketParams, assets: int, on_behalf: str) -> Call:
    return encode("morpho_blue", morpho, "supply", m.as_tuple(), assets, 0, to_checksum_address(on_behalf), b"")


def withdraw(morpho: str, m: MarketParams, assets: int, owner: str, receiver: str) -> Call:
    return encode("morpho_blue", morpho, "withdraw", m.as_tuple(), assets, 0, to_checksum_address(owner), to_checksum_address(receiver))


def supply_collateral(morpho: str, m: MarketParams, assets: int, on_behalf: str) -> Call:
    return encode("morpho_blue", morpho, "supplyCollateral", m.as_tuple(), assets, to_checksum_address(on_behalf), b"")


def withdraw_collateral(morpho: str, m: MarketParams, assets: int, owner: str, receiver: str) -> Call:
    return encode("morpho_blue", morpho, "withdrawCollateral", m.as_tuple(), assets, to_checksum_address(owner), to_checksum_address(receiver))


def borrow(morpho: str, m: MarketParams, assets: int, owner: str, receiver: str) -> Call:
    return encode("morpho_blue", morpho, "borrow", m.as_tuple(), assets, 0, to_checksum_address(owner), to_checksum_address(receiver))


def repay(morpho: str, m: MarketParams, assets: int, on_behalf: str) -> Call:
    return encode("morpho_blue", morpho, "repay", m.as_tuple(), assets, 0, to_checksum_address(on_behalf), b"")


def repay_shares(morpho: str, m: MarketParams, shares: int, on_behalf: str) -> Call:
    """Repay a debt in full by its shares (repaying by assets leaves the interest's dust)."""
    return encode("morpho_blue", morpho, "repay", m.as_tuple(), 0, shares, to_checksum_address(on_behalf), b"")


def _to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    return shares * (total_assets + VIRTUAL_ASSETS) // (total_shares + VIRTUAL_SHARES)


def _to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    d = total_shares + VIRTUAL_SHARES
    return (shares * (total_assets + VIRTUAL_ASSETS) + d - 1) // d


@dataclass(frozen=True)
class Position:
    supplied: int  # loan token base units lent to the market
    collateral: int  # collateral token base units
    debt: int  # loan token base units owed (rounded up)
    borrow_shares: int
    max_debt: int  # what the collateral allows at the market's LLTV and the oracle's price

    @property
    def health(self) -> Fraction | None:
        """max_debt / debt: below 1 the position can be liquidated; None without debt."""
        return Fraction(self.max_debt, self.debt) if self.debt else None


async def position(w3: AsyncWeb3, morpho: str, m: MarketParams, user: str) -> Position:
    mc = contract(w3, "morpho_blue", morpho)
    supply_shares, borrow_shares, collateral = await mc.functions.position(m.id, to_checksum_address(user)).call()
    tsa, tss, tba, tbs, _, _ = await mc.functions.market(m.id).call()
    price = await contract(w3, "morpho_oracle", m.oracle).functions.price().call()
    max_debt = collateral * price // ORACLE_SCALE * m.lltv // WAD
    return Position(_to_assets_down(supply_shares, tsa, tss), int(collateral), _to_assets_up(borrow_shares, tba, tbs),
                    int(borrow_shares), int(max_debt))


async def market_params(w3: AsyncWeb3, morpho: str, market_id: bytes | str) -> MarketParams:
    """A market's parameters from its id (what a YAML names a market by)."""
    mid = bytes.fromhex(market_id.removeprefix("0x")) if isinstance(market_id, str) else market_id
    loan, collateral, oracle, irm, lltv = await contract(w3, "morpho_blue", morpho).functions.idToMarketParams(mid).call()
    return MarketParams(loan, collateral, oracle, irm, int(lltv))
