"""`- events: {contract: usdc, event: Transfer, blocks: 100}`: recent events (get_logs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from concilium.tools.chaindata import clean
from concilium.seams.observation import Observation


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    contract: str
    event: str
    blocks: int = Field(100, ge=1, le=10_000)


async def recent_events(ctx, contract: str, event: str, blocks: int) -> list[dict[str, Any]]:
    c = ctx.contracts[contract].handle
    head = await ctx.chain.w3.eth.block_number
    logs = await c.events[event]().get_logs(from_block=max(0, head - blocks + 1), to_block=head)
    return [{"block": e["blockNumber"], "args": clean(dict(e["args"]))} for e in logs[-10:]]


def _read(ctx, o: Options):
    return recent_events(ctx, o.contract, o.event, o.blocks)


async def _present(ctx, o: Options, value) -> tuple[str, Any]:
    return f"recent {o.contract}.{o.event} events", value


def _check(spec, o: Options):
    if m := spec.undefined("contracts", o.contract):
        yield ("contract",), m


OBSERVATION = Observation("events", Options, _read, _present, _check)
