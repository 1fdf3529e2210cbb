"""What supply, withdraw, borrow, repay and position share: the Morpho Blue market a YAML names.

    tools:
      - supply: {market: "${MORPHO_MARKET_ID}", loan: usdc, collateral: weth}   # morpho: morpho
      - withdraw                      # the others use the first lending tool's market
      - borrow: {min_health: 1.5}     # ... unless given their own options
      - repay
      - position

`loan` and `collateral` are the YAML names of the market's tokens; the tools check them against
the market's parameters on chain, so a name cannot point a tool at another market's token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from concilium.tools.args import lookup
from concilium.seams.tool import ToolInputError

if TYPE_CHECKING:
    from concilium.protocols import morpho

FAMILY = ("supply", "withdraw", "borrow", "repay", "position")
_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


class HealthRefused(ToolInputError):
    """A borrow or withdrawal would leave the position below the tool's `min_health`."""

    rule = "health"


class MarketOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    morpho: str = Field("morpho", description="the named Morpho Blue contract")
    market: str | None = Field(None, description="the market id (0x + 64 hex digits)")
    loan: str | None = Field(None, description="the YAML name of the market's loan token")
    collateral: str | None = Field(None, description="the YAML name of the market's collateral token")
    min_health: Decimal = Field(Decimal("1.25"), ge=1, description="borrow/withdraw: the least health to leave")

    @field_validator("market")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is not None and not _ID.match(v):
            raise ValueError("market must be a Morpho market id: 0x and 64 hex digits")
        return v


def _options_of(tool_options: dict, tool: str) -> MarketOptions:
    own = MarketOptions.model_validate(tool_options.get(tool) or {})
    shared = next((MarketOptions.model_validate(tool_options[n]) for n in FAMILY if tool_options.get(n, {}).get("market")), None)
    if own.market is None and shared is not None:
        return shared.model_copy(update={k: v for k, v in own.model_dump(exclude_unset=True).items()})
    return own


def options(ctx, tool: str) -> MarketOptions:
    return _options_of(ctx.agent.tool_options, tool)


def check(spec, agent, tool: str, sends: bool):
    o = _options_of(agent.tool_options, tool)
    if o.market is None or o.loan is None or o.collateral is None:
        yield ("tools",), f'{tool} needs a market: tools: [{{{tool}: {{market: "0x…", loan: usdc, collateral: weth}}}}] (or on another lending tool)'
    for name in (o.morpho, o.loan, o.collateral):
        if name is not None and (m := spec.undefined("contracts", name)):
            yield ("tools",), f"{tool}: {m}"
    if sends and o.morpho not in agent.policy.recipients:
        yield ("policy", "recipients"), f"{tool} sends tokens to Morpho: add {o.morpho} to policy.recipients"


@dataclass(frozen=True)
class Market:
    morpho: Any  # ContractRef
    params: "morpho.MarketParams"
    loan: Any  # ContractRef
    collateral: Any
    min_health: Decimal

    def asset(self, name: Any) -> tuple[Any, bool]:
        """The named token and whether it is the collateral (else the loan token)."""
        if name == self.loan.name:
            return self.loan, False
        if name == self.collateral.name:
            return self.collateral, True
        raise ToolInputError(f"{name!r} is neither this market's loan token ({self.loan.name}) nor its collateral ({self.collateral.name})")

    async def position(self, ctx) -> "morpho.Position":
        from concilium.protocols import morpho

        return await morpho.position(ctx.chain.w3, self.morpho.address, self.params, ctx.wallet.address)


async def market(ctx, tool: str) -> Market:
    from concilium.protocols import morpho

    o = options(ctx, tool)
    mb = lookup(ctx.contracts, o.morpho, "Morpho contract")
    loan, collateral = lookup(ctx.contracts, o.loan, "token"), lookup(ctx.contracts, o.collateral, "token")
    if o.market is None:
        raise ToolInputError(f"{tool}: no market configured")
    params = await morpho.market_params(ctx.chain.w3, mb.address, o.market)
    if int(params.loan_token, 16) == 0:
        raise ToolInputError(f"{tool}: {mb.name} has no market {o.market[:10]}…")
    for name, ref, actual in (("loan", loan, params.loan_token), ("collateral", collateral, params.collateral_token)):
        if actual.lower() != ref.address.lower():
            raise ToolInputError(f"{tool}: market {o.market[:10]}…'s {name} token is {ctx.name_of(actual) or actual}, not {ref.name}")
    return Market(mb, params, loan, collateral, o.min_health)


def assets_schema(m_loan: str | None, m_collateral: str | None) -> list[str]:
    return [n for n in (m_loan, m_collateral) if n]
