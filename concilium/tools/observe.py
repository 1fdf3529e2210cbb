"""An agent's `observe:` list, read in one round trip: every batchable read (balances, calls,
the head block) goes in one JSON-RPC batch, the rest (event queries) run beside it. Each item's
behaviour comes from its entry in the observation registry."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from concilium.chain.reads import Read, batch_read
from concilium.tools.context import ToolContext


async def observe(ctx: ToolContext) -> dict[str, Any]:
    items = ctx.agent.observe
    started = [o.entry.read(ctx, o.options) for o in items]
    batched = [(i, r) for i, r in enumerate(started) if isinstance(r, Read)]
    others = [(i, r) for i, r in enumerate(started) if inspect.isawaitable(r)]
    values: list[Any] = [None] * len(items)
    batch_values, other_values = await asyncio.gather(batch_read(ctx.chain.w3, [r for _, r in batched]),
                                                      asyncio.gather(*(r for _, r in others)))
    for (i, _), v in zip(batched + others, list(batch_values) + list(other_values)):
        values[i] = v
    out: dict[str, Any] = {}
    for o, v in zip(items, values):
        label, shown = await o.entry.present(ctx, o.options, v)
        out[label] = shown
    return out
