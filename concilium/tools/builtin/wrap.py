"""wrap: turn ETH into WETH (WETH9 `deposit`).

    tools: [wrap]                       # or {wrap: {weth: <contract name>}}; default: weth
    policy: {recipients: [weth], limits: {ETH: {per_tx: 1, per_day: 5}}}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from concilium.tools.args import amount_text, lookup, wei
from concilium.tools.builtin._common import ETH, amount_schema, need, per_tx_bound
from concilium.seams.tool import Tool, TxIntent


class WethOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weth: str = "weth"


def weth_contract(ctx, tool: str):
    return lookup(ctx.contracts, ctx.options(tool).weth, "WETH contract")


def check_weth(spec, agent, tool: str, sent: str):
    name = WethOptions.model_validate(agent.tool_options.get(tool) or {}).weth
    if m := spec.undefined("contracts", name):
        yield ("tools",), f"{tool}: {m} (name the WETH9 contract `weth`, or give {{{tool}: {{weth: <name>}}}})"
    yield from need(name in agent.policy.recipients, ("recipients",), f"{tool} sends {sent} to the WETH contract: add {name} to policy.recipients")
    yield from need((ETH if sent == "ETH" else name) in agent.policy.limits, ("limits",), f"{tool} needs policy.limits for {ETH if sent == 'ETH' else name}")


def schema(ctx) -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["amount"], "properties": {
        "amount": amount_schema(per_tx_bound(ctx, [ETH]), "ETH to wrap")}}


async def build(ctx, args: dict) -> TxIntent:
    from concilium.protocols import weth  # web3: not imported while a spec is validated

    w = weth_contract(ctx, "wrap")
    value = wei(args.get("amount"))
    call = weth.wrap(w.address, value)
    return TxIntent("wrap", call.to, data=call.data, value_wei=value, contract=w.name, function="deposit",
                    min_received={w.address: value}, summary=f"wrap {amount_text(value, 18)} ETH into {w.name}")


TOOL = Tool("wrap", "Wrap ETH into WETH", schema, build=build, options=WethOptions,
            check=lambda spec, agent: check_weth(spec, agent, "wrap", "ETH"))
