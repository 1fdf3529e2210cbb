"""The agent's tools as LangChain tools, for tool-calling mode (`mode: tools`). The wrapping
lives here once; each tool's behaviour and argument schema live with the tool.

Read tools answer the model with chain data. Write tools do not send anything themselves: they
hand a Decision to `on_write`, which runs it through the same guard -> act -> record path as
structured mode. Write tools and `finish` end the model's turn (return_direct).
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from langchain_core.tools import StructuredTool

from concilium.llm.decisions import REASON_MAX, Decision, enum
from concilium.tools.context import ToolContext
from concilium.tools.reads import READ_TOOLS
from concilium.tools.writes import WRITE_TOOLS

OnWrite = Callable[[Decision], Awaitable[str]]


def _object(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _read_schema(ctx: ToolContext, name: str) -> dict[str, Any]:
    addresses, contracts = sorted(ctx.addresses), sorted(ctx.contracts)
    tokens = sorted(set(ctx.agent.policy.token_limits) | {o.erc20_balance.token for o in ctx.agent.observe if o.erc20_balance}) or contracts
    if name == "get_balance":
        return _object({"address": enum(addresses, "a named address")})
    if name == "erc20_balance":
        return _object({"token": enum(tokens, "a named token"), "holder": enum(addresses, "a named address")})
    if name == "read_contract":
        views = sorted({f["name"] for c in ctx.contracts.values() for f in c.functions(mutating=False) if not f["inputs"]})
        return _object({"contract": enum(contracts, "a named contract"), "function": enum(views, "a view function without inputs")})
    if name == "recent_events":
        events = sorted({e["name"] for c in ctx.contracts.values() for e in c.abi if e.get("type") == "event"})
        return _object({"contract": enum(contracts, "a named contract"), "event": enum(events, "event name")})
    return _object({})


def langchain_tools(ctx: ToolContext, on_write: OnWrite, on_finish: Callable[[str], Awaitable[str]]) -> list[StructuredTool]:
    tools: list[StructuredTool] = []
    for name in ctx.agent.tools:
        if name in READ_TOOLS:
            fn, args_model, description = READ_TOOLS[name]

            async def run_read(_fn=fn, _model=args_model, **kwargs: Any) -> str:
                try:
                    return json.dumps(await _fn(ctx, _model(**kwargs)), default=str)
                except Exception as e:  # the model asked for something that does not exist: tell it
                    return f"error: {type(e).__name__}: {str(e)[:200]}"

            tools.append(StructuredTool.from_function(coroutine=run_read, name=name, description=description,
                                                      args_schema=_read_schema(ctx, name)))
        elif name in WRITE_TOOLS:
            schema_fn, _, description = WRITE_TOOLS[name]
            schema = schema_fn(ctx)
            args_schema = _object({"args": schema, "reason": {"type": "string", "maxLength": REASON_MAX}})

            async def run_write(_name=name, args: dict | None = None, reason: str = "") -> str:
                return await on_write(Decision(action=_name, args=args or {}, reason=reason))

            tools.append(StructuredTool.from_function(coroutine=run_write, name=name, description=description,
                                                      args_schema=args_schema, return_direct=True))

    async def finish(reason: str = "") -> str:
        return await on_finish(reason)

    tools.append(StructuredTool.from_function(
        coroutine=finish, name="finish", description="Nothing (more) needs doing this step",
        args_schema=_object({"reason": {"type": "string", "maxLength": REASON_MAX}}), return_direct=True))
    return tools
