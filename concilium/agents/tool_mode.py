"""Tool-calling mode (`mode: tools`), for larger models: LangChain's `create_agent` loop with
the agent's tools. The model may read chain state through read tools as it likes; the first
write tool call (or `finish`) ends the loop and becomes the plan's `Decision`, which the agent
then runs through exactly the guard -> act -> record path of structured mode.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import openai
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.errors import GraphRecursionError

from concilium.errors import ModelUnavailable
from concilium.llm.client import ModelClient
from concilium.llm.decisions import Decision
from concilium.tools.context import ToolContext
from concilium.tools.langchain import langchain_tools

MAX_MODEL_CALLS = 6


class GuidedToolCalls(AgentMiddleware):
    """Each model turn is exactly one tool call, decoded under a JSON schema: a union over the
    tools of {"name": <tool>, "arguments": <its strict argument schema>}.

    Native tool calling (`--enable-auto-tool-choice --tool-call-parser hermes`, which the bundled
    server also enables, with the shipped ChatML template) suits larger models. Measured with the
    bundled 135M model on vLLM 0.32: under tool_choice="auto" it never calls a tool, and under
    "required" vLLM's structural-tag grammar ignores disable_any_whitespace, so the arguments
    fill up with blanks until max_tokens. Guided JSON has neither problem, on any vLLM server.
    """

    def __init__(self, model: ModelClient):
        self.model = model

    async def awrap_model_call(self, request, handler):
        branches = []
        for tool in request.tools:
            fn = convert_to_openai_tool(tool, strict=True)["function"]
            branches.append({"type": "object", "additionalProperties": False, "required": ["name", "arguments"],
                             "properties": {"name": {"type": "string", "enum": [fn["name"]]}, "arguments": fn["parameters"]}})
        history = [_as_text(m) for m in request.messages]
        system = [request.system_message] if request.system_message is not None else []
        out = await self.model.decide(system + history, {"anyOf": branches}, schema_name="tool_call")
        call = {"name": out.value.get("name", "finish"), "args": out.value.get("arguments", {}), "id": f"call_{uuid.uuid4().hex[:12]}"}
        return AIMessage(content="", tool_calls=[call])


def _as_text(m):
    """Past calls and results as plain turns: the model sees what it asked and what it got."""
    if isinstance(m, AIMessage) and m.tool_calls:
        return AIMessage(content=json.dumps([{"name": c["name"], "arguments": c["args"]} for c in m.tool_calls]))
    if isinstance(m, ToolMessage):
        return HumanMessage(content=f"result of {m.name}: {m.content}")
    return m


@dataclass(frozen=True)
class ToolPlan:
    decision: Decision | None  # None: the loop ended without deciding (see error)
    output: str  # what the model chose, for the record
    error: str | None = None


async def plan_with_tools(model: ModelClient, ctx: ToolContext, messages: list) -> ToolPlan:
    decided: list[Decision] = []

    async def on_write(decision: Decision) -> str:
        decided.append(decision)
        return "decided"

    async def on_finish(reason: str) -> str:
        decided.append(Decision(action="noop", reason=reason))
        return "done"

    graph = create_agent(model.chat, langchain_tools(ctx, on_write, on_finish),
                         system_prompt=str(messages[0].content) + "\nCall finish when nothing needs doing.",
                         middleware=[GuidedToolCalls(model)])
    error = None
    try:
        await graph.ainvoke({"messages": [messages[1]]}, config={"recursion_limit": 2 * MAX_MODEL_CALLS + 1})
    except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError) as e:
        raise ModelUnavailable(f"model server at {model.url} did not answer ({type(e).__name__}); is vLLM running?") from None
    except GraphRecursionError:
        error = f"the model made {MAX_MODEL_CALLS} calls without deciding"
    if not decided:
        return ToolPlan(None, "", error or "the model ended without calling a tool")
    d = decided[0]
    return ToolPlan(d, json.dumps({"finish": d.reason} if d.action == "noop" else d.model_dump(), default=str))
