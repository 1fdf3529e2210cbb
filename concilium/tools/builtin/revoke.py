"""revoke: set a named spender's allowance of one token to zero.

    tools: [revoke]

Revoking only lowers risk, so any named spender may be revoked; tokens are the agent's named
contracts.
"""

from __future__ import annotations

from concilium.llm.decisions import enum
from concilium.tools.args import lookup
from concilium.seams.tool import Tool, TxIntent


def schema(ctx) -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["token", "spender"], "properties": {
        "token": enum(sorted(ctx.contracts), "which token"),
        "spender": enum(sorted(ctx.names), "whose allowance to remove"),
    }}


async def build(ctx, args: dict) -> TxIntent:
    token = lookup(ctx.contracts, args.get("token"), "token")
    spender = lookup(ctx.names, args.get("spender"), "spender")
    return TxIntent("revoke", token.address, data=token.handle.encode_abi("approve", args=[spender, 0]),
                    contract=token.name, function="approve", summary=f"revoke {args['spender']}'s {token.name} allowance")


TOOL = Tool("revoke", "Set a named spender's allowance of a token to zero", schema, build=build)
