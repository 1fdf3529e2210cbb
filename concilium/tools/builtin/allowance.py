"""allowance (read): how much of a named token a named spender may move from the agent's wallet.

    tools: [allowance]
"""

from __future__ import annotations

from concilium.llm.decisions import enum
from concilium.tools.args import amount_text, lookup
from concilium.tools.builtin._reads import obj, token_names
from concilium.seams.tool import Tool


async def read(ctx, args: dict) -> dict:
    token = lookup(ctx.contracts, args.get("token"), "token")
    raw = await token.handle.functions.allowance(ctx.wallet.address, lookup(ctx.names, args.get("spender"), "spender")).call()
    return {"token": token.name, "spender": args["spender"],
            "allowance": "unlimited" if raw >= 2**255 else amount_text(raw, await ctx.decimals(token.name))}


TOOL = Tool("allowance", "How much of a token a named spender may move from this agent's wallet",
            lambda ctx: obj({"token": enum(token_names(ctx), "a named token"), "spender": enum(sorted(ctx.names), "a named spender")}),
            read=read)
