"""Schema pieces and YAML checks several built-in tools share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from concilium.llm.decisions import bounded_number, enum

ETH = "ETH"


def per_tx_bound(ctx, assets: list[str]) -> float:
    """The largest per-transaction limit among `assets`: the model's upper bound for an amount."""
    limits = ctx.agent.policy.limits
    return float(max((limits[a].per_tx for a in assets if a in limits), default=Decimal(0)))


def token_limits(ctx) -> list[str]:
    return sorted(a for a in ctx.agent.policy.limits if a != ETH)


def amount_schema(maximum: float, description: str) -> dict[str, Any]:
    return bounded_number(maximum, description)


def recipients_schema(ctx, description: str) -> dict[str, Any]:
    return enum(list(ctx.agent.policy.recipients), description)


def need(condition: bool, loc: tuple, message: str):
    return [] if condition else [(("policy",) + loc, message)]
