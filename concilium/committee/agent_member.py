"""The agent side of a committee member: the agent's spec run with this member's model, its
tools building the Safe's call, and its own policy guard judging that call as made *by the Safe*
(the guard's wallet is the Safe's address; the call is simulated from it). A member never signs
what this guard refuses, whatever its peers agreed.

`AgentMember.plan` observes and asks the model; `decisions=` replaces the model with a list of
injected decisions (`propose`-like), one per round, for protocol tests and the demo: everything
after the plan (commit-reveal, build, guard, sign, submit) is the same code either way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Awaitable, Callable, Mapping

from concilium.agents.agent import decision_schema
from concilium.agents.prompt import build_messages
from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet
from concilium.committee.canonical import NOOP, ToolRule
from concilium.committee.member import Call, Plan
from concilium.llm.client import ModelClient
from concilium.llm.decisions import Decision
from concilium.spec import AgentSpec, Spec
from concilium.tools.context import ToolContext
from concilium.tools.guard import PolicyGuard
from concilium.tools.ledger import Spend
from concilium.tools.observe import observe
from concilium.seams.tool import TOOLS, ToolInputError

def default_rules(agent: AgentSpec) -> dict[str, ToolRule]:
    """How members' decisions on this agent's tools are compared: amounts at each tool's declared precision."""
    return {t: ToolRule(amounts=TOOLS[t].amounts) for t in agent.tools if TOOLS[t].writes and TOOLS[t].amounts}


@dataclass(frozen=True)
class SafeAccount:
    """The Safe as the guard's 'wallet': an address to simulate from; it never signs."""

    address: str
    name: str = "safe"


class Unguarded:
    """A member agent with its own guard switched off: it proposes and would sign anything. What
    a compromised member looks like, for the demo and the tests that show the others and the
    onchain guard still hold."""

    def __init__(self, inner):
        self.inner = inner

    async def plan(self, rid):
        return await self.inner.plan(rid)

    async def build(self, action, args):
        return await self.inner.build(action, args)

    async def judge(self, action, args):
        return None


class NoLedger:
    """The member's own guard keeps no day ledger for the Safe (yet): day limits across rounds are
    CommitteeGuard's, which counts what executed onchain."""

    async def spent_since(self, agent: str, since: float, sender: str | None = None) -> Spend:
        return Spend()


Decisions = Callable[[str], Awaitable[Decision]] | list[Decision]


class AgentMember:
    def __init__(self, spec: Spec, agent: AgentSpec, chain: ChainClient, model: ModelClient | None,
                 wallets: dict[str, Wallet], safe: str, decisions: Decisions | None = None):
        ctx = ToolContext.build(spec, agent, chain, wallets)
        self.ctx = replace(ctx, wallet=SafeAccount(safe))
        self.agent, self.model = agent, model
        self.guard = PolicyGuard(self.ctx, NoLedger())
        self.schema = decision_schema(self.ctx)
        self.decisions = decisions

    async def plan(self, round_id: str) -> Plan:
        if self.decisions is not None:
            d = self.decisions(round_id) if callable(self.decisions) else self.decisions.pop(0) if self.decisions else Decision(action=NOOP)
            d = await d if not isinstance(d, Decision) else d
            return Plan(d.action, d.args, d.reason, "(proposed)")
        observation = await observe(self.ctx)
        messages = build_messages(self.agent, observation, self.schema.menu(), sorted(self.ctx.names))
        out = await self.model.decide(messages, self.schema.json_schema())
        d = self.schema.parse(out.value)
        return Plan(d.action, d.args, d.reason, out.model_id)

    def _decision(self, action: str, args: Mapping[str, Any]) -> Decision:
        plain = {k: (float(v) if isinstance(v, Decimal) else v) for k, v in args.items()}
        return Decision(action=action, args=plain)

    async def build(self, action: str, args: Mapping[str, Any]) -> Call:
        if action not in TOOLS or not TOOLS[action].writes:
            raise ToolInputError(f"unknown tool {action!r}")
        intent = await TOOLS[action].build(self.ctx, self._decision(action, args).args)
        return Call(intent.to, intent.value_wei, bytes.fromhex(intent.data.removeprefix("0x")), intent.summary)

    async def judge(self, action: str, args: Mapping[str, Any]) -> str | None:
        decision = self._decision(action, args)
        if (v := self.guard.check_tool(decision)) is not None:
            return f"{v.rule}: {v.reason}"
        try:
            intent = await TOOLS[action].build(self.ctx, decision.args)
        except ToolInputError as e:
            return f"{e.rule}: {e}"
        v = await self.guard.check(decision, intent)
        return None if v.allowed else f"{v.rule}: {v.reason}"
