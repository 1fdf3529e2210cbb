"""Read tools: chain state an agent may look at. Each returns plain JSON-able data.

Values from the chain are untrusted: strings are cut to a bounded length and passed to the
model as data, never as instructions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from concilium.chain.reads import Read, batch_read
from concilium.tools.context import ToolContext
from concilium.units import format_ether

MAX_TEXT = 200


def clean(value: Any) -> Any:
    """Chain values as JSON-able, bounded data."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()[:2 * MAX_TEXT]
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value[:20]]
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in list(value.items())[:20]}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)
    return value


class BalanceArgs(BaseModel):
    address: str = Field(description="a named address from the YAML")


class Erc20BalanceArgs(BaseModel):
    token: str = Field(description="a named ERC-20 contract")
    holder: str = Field(description="a named address")


class ReadContractArgs(BaseModel):
    contract: str
    function: str
    args: list[Any] = []


class EventsArgs(BaseModel):
    contract: str
    event: str
    blocks: int = Field(100, ge=1, le=10_000)


class BlockArgs(BaseModel):
    pass


async def get_balance(ctx: ToolContext, args: BalanceArgs) -> dict[str, Any]:
    wei = await ctx.chain.w3.eth.get_balance(ctx.address(args.address))
    return {"address": args.address, "balance_wei": str(wei), "balance": format_ether(wei)}


async def erc20_balance(ctx: ToolContext, args: Erc20BalanceArgs) -> dict[str, Any]:
    token = ctx.contracts[args.token].handle
    raw = await token.functions.balanceOf(ctx.address(args.holder)).call()
    decimals = await ctx.decimals(args.token)
    return {"token": args.token, "holder": args.holder, "balance": raw / 10**decimals}


def resolve_args(ctx: ToolContext, args: list[Any]) -> tuple:
    """YAML args may name addresses; those become addresses, the rest pass through."""
    return tuple(ctx.addresses.get(a, a) if isinstance(a, str) else a for a in args)


async def read_contract(ctx: ToolContext, args: ReadContractArgs) -> dict[str, Any]:
    c = ctx.contracts[args.contract].handle
    value = await c.functions[args.function](*resolve_args(ctx, args.args)).call()
    return {"contract": args.contract, "function": args.function, "value": clean(value)}


async def get_block(ctx: ToolContext, args: BlockArgs | None = None) -> dict[str, Any]:
    b = await ctx.chain.w3.eth.get_block("latest")
    return {"number": b["number"], "timestamp": b["timestamp"], "base_fee_gwei": b.get("baseFeePerGas", 0) / 1e9}


async def recent_events(ctx: ToolContext, args: EventsArgs) -> dict[str, Any]:
    c = ctx.contracts[args.contract].handle
    head = await ctx.chain.w3.eth.block_number
    logs = await c.events[args.event]().get_logs(from_block=max(0, head - args.blocks + 1), to_block=head)
    return {"contract": args.contract, "event": args.event,
            "events": [{"block": e["blockNumber"], "args": clean(dict(e["args"]))} for e in logs[-10:]]}


READ_TOOLS = {
    "get_balance": (get_balance, BalanceArgs, "Native balance of a named address"),
    "erc20_balance": (erc20_balance, Erc20BalanceArgs, "ERC-20 balance of a named holder"),
    "read_contract": (read_contract, ReadContractArgs, "Call a view function of a named contract"),
    "get_block": (get_block, BlockArgs, "The latest block: number, timestamp, base fee"),
    "recent_events": (recent_events, EventsArgs, "Recent events of a named contract"),
}


async def observe(ctx: ToolContext) -> dict[str, Any]:
    """The agent's configured reads. Balances, calls and the block go in one JSON-RPC batch;
    event queries (get_logs) run beside it."""
    reads: list[Read] = []
    labels: list[tuple[str, Any]] = []
    event_jobs = []
    for o in ctx.agent.observe:
        if o.balance is not None:
            reads.append(Read("balance", address=ctx.address(o.balance)))
            labels.append(("balance", o.balance))
        elif o.erc20_balance is not None:
            t = o.erc20_balance
            reads.append(Read("call", contract=ctx.contracts[t.token].handle, function="balanceOf", args=(ctx.address(t.holder),)))
            labels.append(("erc20_balance", t))
        elif o.call is not None:
            reads.append(Read("call", contract=ctx.contracts[o.call.contract].handle, function=o.call.function,
                              args=resolve_args(ctx, o.call.args)))
            labels.append(("call", o.call))
        elif o.block:
            reads.append(Read("block"))
            labels.append(("block", None))
        elif o.events is not None:
            event_jobs.append(recent_events(ctx, EventsArgs(contract=o.events.contract, event=o.events.event, blocks=o.events.blocks)))
    values, events = await asyncio.gather(batch_read(ctx.chain.w3, reads), asyncio.gather(*event_jobs))
    out: dict[str, Any] = {}
    for (kind, what), value in zip(labels, values):
        if kind == "balance":
            out[f"balance of {what}"] = format_ether(int(value))
        elif kind == "erc20_balance":
            out[f"{what.token} balance of {what.holder}"] = int(value) / 10 ** await ctx.decimals(what.token)
        elif kind == "call":
            out[f"{what.contract}.{what.function}({', '.join(map(str, what.args))})"] = clean(value)
        else:
            out["block"] = {"number": value["number"], "timestamp": value["timestamp"]}
    for e in events:
        out[f"recent {e['contract']}.{e['event']} events"] = e["events"]
    return out
