"""read_contract (read): call a view function (without inputs) of a named contract.

    tools: [read_contract]
"""

from __future__ import annotations

from concilium.llm.decisions import enum
from concilium.tools.args import lookup
from concilium.tools.builtin._reads import obj
from concilium.tools.chaindata import clean
from concilium.seams.tool import Tool


def schema(ctx) -> dict:
    views = sorted({f["name"] for c in ctx.contracts.values() for f in c.functions(mutating=False) if not f["inputs"]})
    return obj({"contract": enum(sorted(ctx.contracts), "a named contract"), "function": enum(views, "a view function without inputs")})


async def read(ctx, args: dict) -> dict:
    c = lookup(ctx.contracts, args.get("contract"), "contract")
    value = await c.handle.functions[args["function"]](*ctx.resolve(args.get("args", []))).call()
    return {"contract": c.name, "function": args["function"], "value": clean(value)}


TOOL = Tool("read_contract", "Call a view function of a named contract", schema, read=read)
