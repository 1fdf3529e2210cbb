"""What swap, quote and pool_price share: the Uniswap venue a YAML names, and prices from it.

    tools:
      - swap: {router: uni_router, quoter: uni_quoter, fee: 3000}   # v3 (SwapRouter + QuoterV2)
      - swap: {router: uni_v2_router}                              # or v2 (Router02)
      - quote                                                      # quote and pool_price use the
      - pool_price                                                 # swap's venue unless given their own

The router's ABI says which Uniswap it is. Two prices come out of `price`: the quote (what the
trade would get now: fee and price impact included) and the mid price's worth (no fee, no impact),
which the policy's `max_slippage_bps` is measured against.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from concilium.llm.decisions import enum
from concilium.tools.args import lookup
from concilium.seams.tool import ToolInputError

FAMILY = ("swap", "quote", "pool_price")


class SwapOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    router: str | None = Field(None, description="a named contract: Uniswap v2 Router02 or v3 SwapRouter")
    quoter: str | None = Field(None, description="v3: a named QuoterV2")
    fee: int = Field(3000, description="v3: the pool's fee tier (100, 500, 3000, 10000)")
    deadline: int = Field(300, ge=30, le=3600, description="seconds after the latest block")


def options(ctx, tool: str) -> SwapOptions:
    """The tool's own options, else those of the first tool of the family that has some."""
    for name in (tool, *FAMILY):
        if ctx.agent.tool_options.get(name):
            return SwapOptions.model_validate(ctx.agent.tool_options[name])
    return SwapOptions()


def check(spec, agent, tool: str):
    """YAML problems of a swap-family tool: its venue must name a router (and v3 a quoter)."""
    opts = next((SwapOptions.model_validate(agent.tool_options[n]) for n in (tool, *FAMILY) if agent.tool_options.get(n)), SwapOptions())
    if opts.router is None:
        yield ("tools",), f"{tool} needs a venue: tools: [{{swap: {{router: <contract>, quoter: <contract>, fee: 3000}}}}]"
    for name in (opts.router, opts.quoter):
        if name is not None and (m := spec.undefined("contracts", name)):
            yield ("tools",), f"{tool}: {m}"


@dataclass(frozen=True)
class Venue:
    kind: str  # uniswap_v2 | uniswap_v3
    router: Any  # ContractRef
    quoter: Any | None
    fee: int
    deadline: int

    @property
    def label(self) -> str:
        return "Uniswap v2" if self.kind == "uniswap_v2" else f"Uniswap v3 ({self.fee / 10_000:g} % pool)"


def venue(ctx, tool: str) -> Venue:
    opts = options(ctx, tool)
    router = lookup(ctx.contracts, opts.router, "router contract")
    fns = {f["name"] for f in router.abi if f.get("type") == "function"}
    if "exactInputSingle" in fns:
        if opts.quoter is None:
            raise ToolInputError(f"{tool}: a Uniswap v3 router needs a quoter (options: quoter: <QuoterV2 contract>)")
        return Venue("uniswap_v3", router, lookup(ctx.contracts, opts.quoter, "quoter contract"), opts.fee, opts.deadline)
    if "swapExactTokensForTokens" in fns:
        return Venue("uniswap_v2", router, None, 0, opts.deadline)
    raise ToolInputError(f"{tool}: contract {router.name!r} is neither a Uniswap v2 nor a v3 router (give abi: uniswap_v2_router or uniswap_v3_router)")


@dataclass(frozen=True)
class Price:
    quoted: int  # base units of buy that amount_in gets now
    mid: int  # base units of buy that amount_in is worth at the mid price
    pool: str  # the pair or pool the tokens go through

    @property
    def impact_bps(self) -> int:
        """What the trade loses against the mid price (fee and price impact), in basis points."""
        return (self.mid - self.quoted) * 10_000 // self.mid if self.mid else 10_000


async def price(ctx, v: Venue, sell: str, buy: str, amount_in: int) -> Price:
    from web3.exceptions import ContractLogicError, Web3RPCError  # web3: not imported while a spec is validated

    from concilium.protocols import uniswap_v2, uniswap_v3

    w3 = ctx.chain.w3
    factory = await v.router.handle.functions.factory().call()
    try:
        if v.kind == "uniswap_v2":
            r = await uniswap_v2.reserves(w3, factory, sell, buy)
            if r is None or not r.reserve_a:
                raise ToolInputError(f"no Uniswap v2 pool for {ctx.name_of(sell)}/{ctx.name_of(buy)}")
            return Price(await uniswap_v2.quote(w3, v.router.address, amount_in, [sell, buy]), r.mid_out(amount_in), r.pair)
        s, q = await asyncio.gather(uniswap_v3.pool_state(w3, factory, sell, buy, v.fee),
                                    uniswap_v3.quote(w3, v.quoter.address, sell, buy, v.fee, amount_in), return_exceptions=True)
        if s is None or isinstance(s, BaseException) or not s.liquidity:
            raise ToolInputError(f"no Uniswap v3 {v.fee / 10_000:g} % pool with liquidity for {ctx.name_of(sell)}/{ctx.name_of(buy)}")
        if isinstance(q, BaseException):
            raise q
        return Price(q.amount_out, uniswap_v3.mid_out(s.sqrt_price_x96, sell, buy, amount_in), s.pool)
    except (ContractLogicError, Web3RPCError) as e:
        raise ToolInputError(f"cannot quote {ctx.name_of(sell)} -> {ctx.name_of(buy)} on {v.label}: {e}") from None


def trade_schema(sellable: list[str], names: list[str], amount: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """One branch per token to sell, each offering only the other tokens to buy and the amount
    bound for that token: a model cannot sell a token for itself or above its own limit."""
    branches = [{"type": "object", "additionalProperties": False, "required": ["sell", "buy", "amount"], "properties": {
        "sell": enum([s], "the token to sell"), "buy": enum([n for n in names if n != s], "the token to buy"), "amount": amount(s)}}
        for s in sellable if any(n != s for n in names)]
    if not branches:
        return {"type": "object", "additionalProperties": False, "required": ["sell", "buy", "amount"], "properties": {
            "sell": enum([], "no token to sell"), "buy": enum([], "no token to buy"), "amount": {"type": "number"}}}
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def tokens(ctx, args: dict) -> tuple[Any, Any]:
    sell = lookup(ctx.contracts, args.get("sell"), "token")
    buy = lookup(ctx.contracts, args.get("buy"), "token")
    if sell.name == buy.name:
        raise ToolInputError(f"sell and buy are both {sell.name}")
    return sell, buy
