"""erc20_transfer: transfer ERC-20 tokens to a named recipient.

    tools: [erc20_transfer]
    policy: {recipients: [hot_wallet], limits: {usdc: {per_tx: 100, per_day: 500}}}
"""

from __future__ import annotations

from concilium.llm.decisions import enum
from concilium.tools.args import lookup, token_amount
from concilium.tools.builtin._common import amount_schema, need, per_tx_bound, recipients_schema, token_limits
from concilium.seams.tool import Tool, TxIntent


def schema(ctx) -> dict:
    tokens = token_limits(ctx)
    return {"type": "object", "additionalProperties": False, "required": ["token", "to", "amount"], "properties": {
        "token": enum(tokens, "which token"),
        "to": recipients_schema(ctx, "who receives the tokens"),
        "amount": amount_schema(per_tx_bound(ctx, tokens), "amount in token units"),
    }}


async def build(ctx, args: dict) -> TxIntent:
    token, units = await token_amount(ctx, args)
    to = lookup(ctx.names, args.get("to"), "address")
    return TxIntent("erc20_transfer", token.address, data=token.handle.encode_abi("transfer", args=[to, units]),
                    contract=token.name, function="transfer",
                    summary=f"transfer {args['amount']} {token.name} to {args['to']}")


def check(spec, agent):
    p = agent.policy
    return (need(bool(p.recipients), (), "erc20_transfer needs policy.recipients: the named addresses it may pay")
            + need(any(a != "ETH" for a in p.limits), ("limits",), "erc20_transfer needs policy.limits: {usdc: {per_tx: 100}}"))


TOOL = Tool("erc20_transfer", "Transfer ERC-20 tokens to a named address", schema, build=build, check=check, amounts={"amount": 6})
