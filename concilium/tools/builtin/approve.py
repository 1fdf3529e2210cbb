"""approve: let a named spender move up to an amount of one token (ERC-20 `approve`).

    tools: [approve]
    policy: {spenders: {router: {usdc: 1000, weth: unlimited}}}   # per token: max allowance

The guard reads the `Approval` the simulation emits, whatever tool produced it, and refuses a
spender or an amount the policy does not name.
"""

from __future__ import annotations

from concilium.llm.decisions import bounded_number, enum
from concilium.tools.args import lookup, token_amount
from concilium.tools.builtin._common import need
from concilium.seams.tool import Tool, TxIntent

UNLIMITED_BOUND = 1e30  # the model's bound where the policy allows unlimited approvals


def _caps(ctx) -> dict[str, dict]:
    return ctx.agent.policy.spenders


def schema(ctx) -> dict:
    caps = _caps(ctx)
    tokens = sorted({t for per in caps.values() for t in per})
    bound = max((UNLIMITED_BOUND if c == "unlimited" else float(c) for per in caps.values() for c in per.values()), default=0.0)
    return {"type": "object", "additionalProperties": False, "required": ["token", "spender", "amount"], "properties": {
        "token": enum(tokens, "which token"),
        "spender": enum(sorted(caps), "who may spend it"),
        "amount": bounded_number(bound, "allowance in token units"),
    }}


async def build(ctx, args: dict) -> TxIntent:
    token, units = await token_amount(ctx, args)
    spender = lookup(ctx.names, args.get("spender"), "spender")
    return TxIntent("approve", token.address, data=token.handle.encode_abi("approve", args=[spender, units]),
                    contract=token.name, function="approve",
                    summary=f"approve {args['spender']} to spend {args['amount']} {token.name}")


def check(spec, agent):
    return need(bool(agent.policy.spenders), (), "approve needs policy.spenders: {router: {usdc: 1000}}")


TOOL = Tool("approve", "Allow a named spender to move up to an amount of a token", schema, build=build, check=check, amounts={"amount": 6})
