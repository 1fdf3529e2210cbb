"""Tool-calling mode (`mode: tools`), for larger models: LangChain's `create_agent` loop with
the agent's tools. The model may read chain state through read tools as it likes; a write tool
call becomes a Decision that goes through exactly the guard -> act -> record path of structured
mode, and ends the step, as does `finish`.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import openai
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.errors import GraphRecursionError

from concilium.agents.records import StepRecord
from concilium.errors import ModelUnavailable
from concilium.llm.client import ModelClient
from concilium.llm.decisions import Decision
from concilium.tools.langchain import langchain_tools

if TYPE_CHECKING:
    from concilium.agents.agent import Agent, Timings

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


async def tool_mode_step(agent: "Agent", observation: dict, messages: list, inputs_hash: str, started: float,
                         t: "Timings", step_id: str | None = None) -> StepRecord:
    ids = iter([step_id])  # the step's first record takes the id handed out for it
    model_id = await agent.model.model_id()
    await agent.store.note_model(model_id, await agent.model.preimage())
    base = {"started_at": started, "observation": observation, "inputs_hash": inputs_hash, "model_id": model_id,
            "model_name": agent.model.name, "sampling": agent.model.sampling.as_dict(),
            "prompt": "\n\n".join(str(m.content) for m in messages)}
    records: list[StepRecord] = []

    async def on_write(decision: Decision) -> str:
        rec = await agent.store.create(agent.name, next(ids, None), output=decision.model_dump_json(), **base)
        rec = await agent._execute(decision, rec, t)
        records.append(rec)
        return rec.status + (f" by rule {rec.rule}: {rec.verdict}" if rec.rule else f" {rec.tx_hash or ''}")

    async def on_finish(reason: str) -> str:
        rec = await agent.store.create(agent.name, next(ids, None), output=json.dumps({"finish": reason}), **base)
        records.append(await agent.store.update(rec, action="noop", reason=reason, status="noop", timings=t.stages))
        return "done"

    graph = create_agent(agent.model.chat, langchain_tools(agent.ctx, on_write, on_finish),
                         system_prompt=str(messages[0].content) + "\nCall finish when nothing needs doing.",
                         middleware=[GuidedToolCalls(agent.model)])
    error = None
    with t.stage("plan"):
        try:
            await graph.ainvoke({"messages": [messages[1]]}, config={"recursion_limit": 2 * MAX_MODEL_CALLS + 1})
        except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError) as e:
            await agent.store.create(agent.name, next(ids, None), status="error", error=f"model server did not answer: {type(e).__name__}", **base)
            raise ModelUnavailable(f"model server at {agent.model.url} did not answer ({type(e).__name__}); is vLLM running?") from None
        except GraphRecursionError:
            error = f"the model made {MAX_MODEL_CALLS} calls without deciding"
    if records:
        return await agent.store.update(records[-1], timings=t.stages)
    rec = await agent.store.create(agent.name, next(ids, None), **base)
    return await agent.store.update(rec, status="error", error=error or "the model ended without calling a tool", timings=t.stages)
