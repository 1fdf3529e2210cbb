"""send_native: send ETH to a named recipient.

    tools: [send_native]
    policy: {recipients: [hot_wallet], limits: {ETH: {per_tx: 2, per_day: 10}}}
"""

from __future__ import annotations

from concilium.tools.args import amount_text, lookup, wei
from concilium.tools.builtin._common import ETH, amount_schema, need, per_tx_bound, recipients_schema
from concilium.seams.tool import Tool, TxIntent


def schema(ctx) -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["to", "amount"], "properties": {
        "to": recipients_schema(ctx, "who receives the ether"),
        "amount": amount_schema(per_tx_bound(ctx, [ETH]), "amount in ETH"),
    }}


async def build(ctx, args: dict) -> TxIntent:
    to = lookup(ctx.names, args.get("to"), "address")
    value = wei(args.get("amount"))
    return TxIntent("send_native", to, value_wei=value, summary=f"send {amount_text(value, 18)} ETH to {args['to']}")


def check(spec, agent):
    p = agent.policy
    return (need(bool(p.recipients), (), "send_native needs policy.recipients: the named addresses it may pay")
            + need(ETH in p.limits, ("limits",), "send_native needs policy.limits: {ETH: {per_tx: 0.5}} (formerly max_value_per_tx)"))


TOOL = Tool("send_native", "Send ETH to a named address", schema, build=build, check=check, amounts={"amount": 6})
