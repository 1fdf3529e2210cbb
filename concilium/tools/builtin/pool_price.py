"""pool_price (read): the mid price of one named token in another, from the swap venue's pool.

    tools: [pool_price]      # on the swap's venue, or {pool_price: {router: ..., quoter: ...}}
"""

from __future__ import annotations

from decimal import Decimal

from concilium.llm.decisions import enum
from concilium.tools.args import lookup
from concilium.tools.builtin import _swap
from concilium.tools.builtin._reads import obj, token_names
from concilium.seams.tool import Tool, ToolInputError


def schema(ctx) -> dict:
    names = token_names(ctx)
    return obj({"base": enum(names, "the token priced"), "quote": enum(names, "the token it is priced in")})


async def read(ctx, args: dict) -> dict:
    from concilium.protocols import uniswap_v2, uniswap_v3  # web3: not imported while a spec is validated

    base, quote = lookup(ctx.contracts, args.get("base"), "token"), lookup(ctx.contracts, args.get("quote"), "token")
    if base.name == quote.name:
        raise ToolInputError(f"base and quote are both {base.name}")
    bd, qd = await ctx.decimals(base.name), await ctx.decimals(quote.name)
    v = _swap.venue(ctx, "pool_price")
    factory = await v.router.handle.functions.factory().call()
    if v.kind == "uniswap_v2":
        r = await uniswap_v2.reserves(ctx.chain.w3, factory, base.address, quote.address)
        price = r.price(bd, qd) if r and r.reserve_a else None
    else:
        s = await uniswap_v3.pool_state(ctx.chain.w3, factory, base.address, quote.address, v.fee)
        price = uniswap_v3.price_from_sqrt(s.sqrt_price_x96, base.address, quote.address, bd, qd) if s else None
    if price is None:
        raise ToolInputError(f"no {v.label} pool for {base.name}/{quote.name}")
    shown = Decimal(price.numerator) / Decimal(price.denominator)
    return {"base": base.name, "quote": quote.name, "venue": v.label, "price": f"{shown:.{min(qd, 8)}f}"}


TOOL = Tool("pool_price", "The mid price of a token in another, from the Uniswap pool", schema, read=read,
            options=_swap.SwapOptions, check=lambda spec, agent: _swap.check(spec, agent, "pool_price"))
