"""get_block (read): the latest block's number, timestamp and base fee.

    tools: [get_block]
"""

from __future__ import annotations

from concilium.tools.builtin._reads import obj
from concilium.seams.tool import Tool


async def read(ctx, args: dict) -> dict:
    b = await ctx.chain.w3.eth.get_block("latest")
    return {"number": b["number"], "timestamp": b["timestamp"], "base_fee_gwei": b.get("baseFeePerGas", 0) / 1e9}


TOOL = Tool("get_block", "The latest block: number, timestamp, base fee", lambda ctx: obj({}), read=read)
