"""unwrap: turn WETH back into ETH (WETH9 `withdraw`).

    tools: [unwrap]                     # or {unwrap: {weth: <contract name>}}; default: weth
    policy: {recipients: [weth], limits: {weth: {per_tx: 1, per_day: 5}}}
"""

from __future__ import annotations

from concilium.tools.args import amount_text, wei
from concilium.tools.builtin._common import amount_schema
from concilium.tools.builtin.wrap import WethOptions, check_weth, weth_contract
from concilium.seams.tool import Tool, TxIntent


def schema(ctx) -> dict:
    name = (WethOptions.model_validate(ctx.agent.tool_options.get("unwrap") or {})).weth
    lim = ctx.agent.policy.limits.get(name)
    return {"type": "object", "additionalProperties": False, "required": ["amount"], "properties": {
        "amount": amount_schema(float(lim.per_tx) if lim else 0.0, "WETH to unwrap")}}


async def build(ctx, args: dict) -> TxIntent:
    from concilium.protocols import weth  # web3: not imported while a spec is validated

    w = weth_contract(ctx, "unwrap")
    amount = wei(args.get("amount"))
    call = weth.unwrap(w.address, amount)
    return TxIntent("unwrap", call.to, data=call.data, contract=w.name, function="withdraw",
                    min_received={"ETH": amount}, summary=f"unwrap {amount_text(amount, 18)} {w.name} into ETH")


TOOL = Tool("unwrap", "Unwrap WETH into ETH", schema, build=build, options=WethOptions,
            check=lambda spec, agent: check_weth(spec, agent, "unwrap", "WETH"))
