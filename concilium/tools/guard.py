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
from concilium.tools.writes import WRITE_TOOLS, TxIntent
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
        if decision.action not in self.ctx.agent.tools or decision.action not in WRITE_TOOLS:
            return Verdict.refuse("tool", f"tool {decision.action!r} is not enabled for agent {self.ctx.agent.name!r}")
        return None

    async def check(self, decision: Decision, intent: TxIntent) -> Verdict:
        p, name = self.policy, self.ctx.agent.name
        if (refused := self.check_tool(decision)) is not None:
            return refused
        if intent.recipient is not None and intent.recipient not in p.recipients:
            return Verdict.refuse("recipient", f"{intent.recipient!r} is not an allowed recipient (allowed: {', '.join(p.recipients) or 'none'})")
        if intent.tool == "write_contract" and intent.function not in p.contracts.get(intent.contract or "", []):
            return Verdict.refuse("contract", f"{intent.contract}.{intent.function} is not in policy.contracts")
        if intent.token is not None and intent.token not in p.token_limits:
            return Verdict.refuse("contract", f"token {intent.token!r} has no policy.token_limits entry")
        if intent.value_wei > p.max_value_per_tx:
            return Verdict.refuse("max_value_per_tx", f"{format_ether(intent.value_wei)} is above max_value_per_tx {format_ether(p.max_value_per_tx)}")
        limit = p.token_limits.get(intent.token) if intent.token else None
        if limit is not None and intent.token_amount > Decimal(str(limit.per_tx)):
            return Verdict.refuse("token_per_tx", f"{intent.token_amount} {intent.token} is above its per_tx limit {limit.per_tx}")
        if p.max_value_per_day is not None or (limit is not None and limit.per_day is not None):
            spent = await self.ledger.spent_since(name, time.time() - DAY)
            if p.max_value_per_day is not None and spent.wei + intent.value_wei > p.max_value_per_day:
                return Verdict.refuse("max_value_per_day", f"{format_ether(intent.value_wei)} on top of {format_ether(spent.wei)} sent in the last 24 h exceeds max_value_per_day {format_ether(p.max_value_per_day)}")
            if limit is not None and limit.per_day is not None:
                used = spent.tokens.get(intent.token or "", Decimal(0))
                if used + intent.token_amount > Decimal(str(limit.per_day)):
                    return Verdict.refuse("token_per_day", f"{intent.token_amount} {intent.token} on top of {used} in the last 24 h exceeds per_day {limit.per_day}")
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
