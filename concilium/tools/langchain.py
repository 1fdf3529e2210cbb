"""The agent's tools as LangChain tools, for tool-calling mode (`mode: tools`). The wrapping
lives here once, over the tool registry; each tool's behaviour and argument schema live with
the tool.

Read tools answer the model with chain data. Write tools do not send anything themselves: they
hand a Decision to `on_write`, which runs it through the same guard -> act -> record path as
structured mode. Write tools and `finish` end the model's turn (return_direct).
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from langchain_core.tools import StructuredTool

from concilium.llm.decisions import REASON_MAX, Decision
from concilium.tools.context import ToolContext
from concilium.seams.tool import TOOLS

OnWrite = Callable[[Decision], Awaitable[str]]


def _object(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def langchain_tools(ctx: ToolContext, on_write: OnWrite, on_finish: Callable[[str], Awaitable[str]]) -> list[StructuredTool]:
    tools: list[StructuredTool] = []
    for name in ctx.agent.tools:
        tool = TOOLS[name]
        if tool.read is not None:
            async def run_read(_read=tool.read, **kwargs: Any) -> str:
                try:
                    return json.dumps(await _read(ctx, kwargs), default=str)
                except Exception as e:  # the model asked for something that does not exist: tell it
                    return f"error: {type(e).__name__}: {str(e)[:200]}"

            tools.append(StructuredTool.from_function(coroutine=run_read, name=name, description=tool.description,
                                                      args_schema=tool.schema(ctx)))
        else:
            args_schema = _object({"args": tool.schema(ctx), "reason": {"type": "string", "maxLength": REASON_MAX}})

            async def run_write(_name=name, args: dict | None = None, reason: str = "") -> str:
                return await on_write(Decision(action=_name, args=args or {}, reason=reason))

            tools.append(StructuredTool.from_function(coroutine=run_write, name=name, description=tool.description,
                                                      args_schema=args_schema, return_direct=True))

    async def finish(reason: str = "") -> str:
        return await on_finish(reason)

    tools.append(StructuredTool.from_function(
        coroutine=finish, name="finish", description="Nothing (more) needs doing this step",
        args_schema=_object({"reason": {"type": "string", "maxLength": REASON_MAX}}), return_direct=True))
    return tools
