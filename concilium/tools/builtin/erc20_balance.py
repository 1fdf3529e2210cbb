"""erc20_balance (read): a named holder's balance of a named token, in token units.

    tools: [erc20_balance]
"""

from __future__ import annotations

from concilium.llm.decisions import enum
from concilium.tools.args import amount_text, lookup
from concilium.tools.builtin._reads import obj, token_names
from concilium.seams.tool import Tool


async def read(ctx, args: dict) -> dict:
    token = lookup(ctx.contracts, args.get("token"), "token")
    raw = await token.handle.functions.balanceOf(lookup(ctx.names, args.get("holder"), "address")).call()
    return {"token": token.name, "holder": args["holder"], "balance": amount_text(raw, await ctx.decimals(token.name))}


TOOL = Tool("erc20_balance", "ERC-20 balance of a named holder",
            lambda ctx: obj({"token": enum(token_names(ctx), "a named token"), "holder": enum(sorted(ctx.names), "a named address")}),
            read=read)
