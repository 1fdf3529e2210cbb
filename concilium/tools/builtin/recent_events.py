"""recent_events (read): the last events of a named contract (up to 10, from the last N blocks).

    tools: [recent_events]
"""

from __future__ import annotations

from concilium.llm.decisions import enum
from concilium.tools.args import lookup
from concilium.tools.builtin._reads import obj
from concilium.tools.observations.events import recent_events
from concilium.seams.tool import Tool


def schema(ctx) -> dict:
    events = sorted({e["name"] for c in ctx.contracts.values() for e in c.abi if e.get("type") == "event"})
    return obj({"contract": enum(sorted(ctx.contracts), "a named contract"), "event": enum(events, "event name")})


async def read(ctx, args: dict) -> dict:
    c = lookup(ctx.contracts, args.get("contract"), "contract")
    events = await recent_events(ctx, c.name, args["event"], max(1, min(int(args.get("blocks", 100)), 10_000)))
    return {"contract": c.name, "event": args["event"], "events": events}


TOOL = Tool("recent_events", "Recent events of a named contract", schema, read=read)
