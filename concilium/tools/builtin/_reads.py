"""Argument schemas the read tools share."""

from __future__ import annotations

from typing import Any


def obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def token_names(ctx) -> list[str]:
    """Tokens the agent deals with: those its policy or observations name, else every contract."""
    named = {a for a in ctx.agent.policy.limits if a != "ETH"} | {t for per in ctx.agent.policy.spenders.values() for t in per}
    named |= {o.options.token for o in ctx.agent.observe if o.kind == "erc20_balance"}
    return sorted(named & set(ctx.contracts)) or sorted(ctx.contracts)
