"""get_balance (read): the native balance of a named address.

    tools: [get_balance]
"""

from __future__ import annotations

from concilium.llm.decisions import enum
from concilium.tools.args import lookup
from concilium.tools.builtin._reads import obj
from concilium.seams.tool import Tool
from concilium.units import format_ether


async def read(ctx, args: dict) -> dict:
    wei = await ctx.chain.w3.eth.get_balance(lookup(ctx.names, args.get("address"), "address"))
    return {"address": args["address"], "balance_wei": str(wei), "balance": format_ether(wei)}


TOOL = Tool("get_balance", "Native balance of a named address",
            lambda ctx: obj({"address": enum(sorted(ctx.names), "a named address")}), read=read)
