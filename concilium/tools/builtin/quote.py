"""quote (read): what selling an amount of one named token for another would get now.

    tools: [quote]      # on the swap's venue, or {quote: {router: ..., quoter: ...}}
"""

from __future__ import annotations

from concilium.tools.args import amount_text, base_units
from concilium.tools.builtin import _swap
from concilium.tools.builtin._common import amount_schema
from concilium.tools.builtin._reads import token_names
from concilium.seams.tool import Tool


def schema(ctx) -> dict:
    names = token_names(ctx)
    return _swap.trade_schema(names, names, lambda t: amount_schema(1e12, f"how much {t} to sell, in token units"))


async def read(ctx, args: dict) -> dict:
    sell, buy = _swap.tokens(ctx, args)
    sd, bd = await ctx.decimals(sell.name), await ctx.decimals(buy.name)
    amount_in = base_units(args.get("amount"), sd)
    v = _swap.venue(ctx, "quote")
    p = await _swap.price(ctx, v, sell.address, buy.address, amount_in)
    return {"sell": sell.name, "buy": buy.name, "amount": amount_text(amount_in, sd), "venue": v.label,
            "expected_out": amount_text(p.quoted, bd), "worth_at_mid_price": amount_text(p.mid, bd),
            "cost_bps": p.impact_bps}


TOOL = Tool("quote", "What selling an amount of a token for another would get now (fee and price impact included)",
            schema, read=read, options=_swap.SwapOptions, check=lambda spec, agent: _swap.check(spec, agent, "quote"))
