"""The policy guard: code, not the model, decides what may be sent.

`PolicyGuard.check(decision, intent) -> Verdict` applies the agent's policy in a fixed order and
stops at the first rule that refuses; the verdict names that rule so that the refusal is
recorded with it. Rules: tool, recipient, contract, max_value_per_tx, token_per_tx,
max_value_per_day, token_per_day, max_gas_price, simulate. `dry_run` lets a verdict pass the
guard while the agent sends nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from concilium.llm.decisions import Decision
from concilium.tools.context import ToolContext
from concilium.tools.registry import TOOLS, TxIntent
from concilium.units import format_ether

DAY = 86_400.0


@dataclass(frozen=True)
class Spend:
    wei: int = 0
    tokens: dict[str, Decimal] = field(default_factory=dict)


class SpendLedger(Protocol):
    async def spent_since(self, agent: str, since: float) -> Spend: ...


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str | None = None
    reason: str = ""
    gas: int | None = None
    dry_run: bool = False

    @classmethod
    def refuse(cls, rule: str, reason: str) -> "Verdict":
        return cls(False, rule, reason)


class PolicyGuard:
    def __init__(self, ctx: ToolContext, ledger: SpendLedger):
        self.ctx = ctx
        self.policy = ctx.agent.policy
        self.ledger = ledger

    def check_tool(self, decision: Decision) -> Verdict | None:
        """Refuse an action that is not one of the agent's write tools (before it is built)."""
        if decision.action not in self.ctx.agent.tools or not TOOLS[decision.action].writes:
            return Verdict.refuse("tool", f"tool {decision.action!r} is not enabled for agent {self.ctx.agent.name!r}")
        return None

    async def check(self, decision: Decision, intent: TxIntent) -> Verdict:
        p, name = self.policy, self.ctx.agent.name
        if (refused := self.check_tool(decision)) is not None:
            return refused
        if intent.tool == "write_contract" and intent.function not in p.contracts.get(intent.contract or "", []):
            return Verdict.refuse("contract", f"{intent.contract}.{intent.function} is not in policy.contracts")
        eth = p.limits.get("ETH")
        if intent.value_wei > (int(eth.per_tx * 10**18) if eth else 0):
            return Verdict.refuse("max_value_per_tx", f"{format_ether(intent.value_wei)} is above the ETH per_tx limit")
        if p.max_gas_price is not None:
            fees = await self.ctx.chain.fees()
            if fees.base_fee + fees.max_priority_fee_per_gas > p.max_gas_price:
                return Verdict.refuse("max_gas_price", f"gas price {(fees.base_fee + fees.max_priority_fee_per_gas) / 1e9:.2f} gwei is above max_gas_price {p.max_gas_price / 1e9:.2f} gwei")
        gas = None
        if p.simulate:
            sim = await self.ctx.chain.simulate({"from": self.ctx.wallet.address, **intent.tx()})
            if not sim.ok:
                return Verdict.refuse("simulate", f"simulation failed: {sim.error}")
            gas = sim.gas
        return Verdict(True, gas=gas, dry_run=p.dry_run, reason="dry run: nothing sent" if p.dry_run else "")
