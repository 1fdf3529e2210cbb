"""The policy guard: code, not the model, decides what may be sent.

`PolicyGuard.check(decision, intent) -> Verdict` simulates the exact transaction and judges its
*effects*, whatever tool or contract produced them: the flows (chain/flows.py) of ETH and tokens
out of the wallet, and the approvals it grants. Rules, in order (the first that refuses names
the verdict): tool, contract (write_contract's allowlist), max_gas_price, simulate (it must not
revert, and the node must be able to trace it; it runs twice, the second time with the gas
limit and fees that will be signed), unexpected_flow (a named token whose events show the wallet
better off than its balance does), then per flow: unexpected_flow (an asset or kind of
flow the policy does not name), recipient, spender, unlimited_approval, max_approval
(per approval and summed over 24 h), max_value_per_tx / token_per_tx, max_value_per_day /
token_per_day (rolling 24 h, from the ledger of what receipts show was sent), min_received (a
tool's least acceptable inflow, e.g. a swap's). `dry_run` lets a verdict pass while nothing is
sent. Rule `input` and `amount` refusals come from the tools (tools/args.py) before this runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from concilium.chain.flows import ETH, UNLIMITED, Flows, flows_from_logs
from concilium.chain.simulate import SimulationUnavailable
from concilium.llm.decisions import Decision
from concilium.tools.args import amount_text, scaled
from concilium.tools.context import ToolContext
from concilium.tools.ledger import Spend, grant_key, spend_of
from concilium.seams.tool import TOOLS, TxIntent

DAY = 86_400.0
ALLOWANCE_ABI = [{"type": "function", "name": "allowance", "stateMutability": "view", "outputs": [{"name": "", "type": "uint256"}],
                  "inputs": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"}]}]
BALANCE_ABI = [{"type": "function", "name": "balanceOf", "stateMutability": "view", "outputs": [{"name": "", "type": "uint256"}],
                "inputs": [{"name": "owner", "type": "address"}]}]


class SpendLedger(Protocol):
    async def spent_since(self, agent: str, since: float, sender: str | None = None) -> Spend: ...


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str | None = None
    reason: str = ""
    gas: int | None = None
    dry_run: bool = False
    flows: list[dict[str, Any]] = field(default_factory=list)
    spend: Spend = field(default_factory=Spend)
    tx: dict[str, Any] | None = None  # the transaction as simulated, gas and fees included: sign this one

    @classmethod
    def refuse(cls, rule: str, reason: str, flows: Flows | None = None) -> "Verdict":
        return cls(False, rule, reason, flows=flows.as_list() if flows else [])


async def allowances_before(ctx: ToolContext, flows: Flows, block: Any = "latest") -> dict[str, int]:
    """The ERC-20 allowance each approval flow replaces, read at `block`."""
    out = {}
    for f in flows.of("approval"):
        if f.standard == "erc20":
            token = ctx.chain.contract(f.asset, ALLOWANCE_ABI)
            try:
                out[grant_key(f.asset, f.counterparty)] = int(await token.functions.allowance(ctx.wallet.address, f.counterparty).call(block_identifier=block))
            except Exception:  # not a standard token: count the whole approval
                out[grant_key(f.asset, f.counterparty)] = 0
    return out


def watched(ctx: ToolContext) -> tuple[str, ...]:
    """Every contract the YAML names: the wallet's balance of each is read around the simulated
    call, so a token that moves more than its events say (or moves silently) is seen."""
    return tuple(dict.fromkeys(c.address for c in ctx.contracts.values()))


def hidden_outflows(flows: Flows, balances: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Per token whose events make the wallet look richer than its balance shows (an outflow
    they understate or omit, an inflow that never arrived): by how much."""
    out = {}
    for token, (before, after) in balances.items():
        if (gap := flows.net.get(token, 0) - (after - before)) > 0:
            out[token] = gap
    return out


async def balances_around(ctx: ToolContext, block: int) -> dict[str, tuple[int, int]]:
    """The wallet's balance of each watched token before and after a mined block."""
    out = {}
    for token in watched(ctx):
        c = ctx.chain.contract(token, BALANCE_ABI)
        try:
            before = int(await c.functions.balanceOf(ctx.wallet.address).call(block_identifier=block - 1))
            after = int(await c.functions.balanceOf(ctx.wallet.address).call(block_identifier=block))
        except Exception:  # not a token
            continue
        out[token] = (before, after)
    return out


class PolicyGuard:
    def __init__(self, ctx: ToolContext, ledger: SpendLedger):
        self.ctx = ctx
        self.policy = ctx.agent.policy
        self.ledger = ledger

    def check_tool(self, decision: Decision) -> Verdict | None:
        """Refuse an action that is not one of the agent's write tools (before it is built)."""
        if decision.action not in self.ctx.agent.tools or decision.action not in TOOLS or not TOOLS[decision.action].writes:
            return Verdict.refuse("tool", f"tool {decision.action!r} is not enabled for agent {self.ctx.agent.name!r}")
        return None

    async def check(self, decision: Decision, intent: TxIntent) -> Verdict:
        p = self.policy
        if (refused := self.check_tool(decision)) is not None:
            return refused
        if intent.tool == "write_contract" and intent.function not in p.contracts.get(intent.contract or "", []):
            return Verdict.refuse("contract", f"{intent.contract}.{intent.function} is not in policy.contracts")
        if p.max_gas_price is not None:
            fees = await self.ctx.chain.fees()
            if fees.base_fee + fees.max_priority_fee_per_gas > p.max_gas_price:
                return Verdict.refuse("max_gas_price", f"gas price {(fees.base_fee + fees.max_priority_fee_per_gas) / 1e9:.2f} gwei is above max_gas_price {p.max_gas_price / 1e9:.2f} gwei")
        me, watch = self.ctx.wallet.address, watched(self.ctx)
        try:
            # once for the gas, then again exactly as it will be signed (gas limit and fees), so
            # code that tells a simulation by tx.gasprice or gasleft() sees the real values
            sim = await self.ctx.chain.simulate_effects({"from": me, **intent.tx()}, watch)
            tx = None
            if sim.ok:
                tx = await self.ctx.chain.prepare(intent.tx(), me, sim.gas, fee_cap=p.max_gas_price)
                sim = await self.ctx.chain.simulate_effects({"from": me, **tx}, watch)
        except SimulationUnavailable as e:
            return Verdict.refuse("simulate", str(e))
        if not sim.ok:
            return Verdict.refuse("simulate", f"simulation failed: {sim.error}")
        flows = flows_from_logs(sim.logs, me)
        for token in hidden_outflows(flows, sim.balances):
            before, after = sim.balances[token]
            return Verdict.refuse("unexpected_flow", f"the wallet's {self.ctx.name_of(token) or token} balance changes by {after - before} base "
                                  f"units but its events show {flows.net.get(token, 0)}: a token whose events do not match its "
                                  "balances cannot be counted", flows)
        spend = spend_of(flows, await allowances_before(self.ctx, flows))
        if (refused := await self._judge(flows, spend, intent)) is not None:
            return refused
        return Verdict(True, gas=sim.gas, dry_run=p.dry_run, reason="dry run: nothing sent" if p.dry_run else "",
                       flows=flows.as_list(), spend=spend, tx=tx)

    # ------------------------------------------------------------------ the flows

    async def _name(self, asset: str) -> str | None:
        return ETH if asset == ETH else self.ctx.name_of(asset)

    async def _units(self, name: str, amount: Decimal) -> int:
        decimals = 18 if name == ETH else await self.ctx.decimals(name)
        return int(scaled(amount, decimals))

    async def _show(self, name: str, units: int) -> str:
        return f"{amount_text(units, 18 if name == ETH else await self.ctx.decimals(name))} {name}"

    async def _spent_today(self) -> Spend:
        """The wallet's last 24 h, whichever agent sent it: agents sharing a key share its budget."""
        return await self.ledger.spent_since(self.ctx.agent.name, time.time() - DAY, sender=self.ctx.wallet.address)

    async def _judge(self, flows: Flows, spend: Spend, intent: TxIntent) -> Verdict | None:
        p = self.policy
        refuse = lambda rule, why: Verdict.refuse(rule, why, flows)  # noqa: E731
        for f in flows.of("out"):
            name = await self._name(f.asset)
            if f.standard in ("erc721", "erc1155") or name not in p.limits:
                return refuse("unexpected_flow", f"sends {f.standard} asset {name or f.asset} to {self.ctx.name_of(f.counterparty) or f.counterparty}, which policy.limits does not name")
            to = self.ctx.name_of(f.counterparty)
            if to not in p.recipients:
                return refuse("recipient", f"{await self._show(name, f.amount)} would go to {to or f.counterparty}, not an allowed recipient (allowed: {', '.join(p.recipients) or 'none'})")
        for f in flows.of("approval"):
            if f.amount == 0:
                continue  # a revocation only lowers risk
            token, spender = await self._name(f.asset), self.ctx.name_of(f.counterparty)
            caps = p.spenders.get(spender or "", {})
            if token is None or token not in caps:
                what = f"{token or f.asset} to {spender or f.counterparty}" + (f" (through Permit2 at {f.via})" if f.via else "")
                return refuse("spender", f"grants an approval of {what}, which policy.spenders does not allow")
            cap = caps[token]
            if cap == "unlimited":
                continue
            if f.amount == UNLIMITED:
                return refuse("unlimited_approval", f"grants {spender} an unlimited {token} approval; policy.spenders.{spender}.{token} allows {cap}")
            limit = await self._units(token, cap)
            if f.amount > limit:
                return refuse("max_approval", f"approves {await self._show(token, f.amount)} for {spender}, above its cap {cap}")
        day = None
        for asset, amount in spend.sent.items():
            name = await self._name(asset)
            lim = p.limits[name]  # every sent asset is named: checked above
            per_tx, per_day = ("max_value_per_tx", "max_value_per_day") if name == ETH else ("token_per_tx", "token_per_day")
            if amount > await self._units(name, lim.per_tx):
                return refuse(per_tx, f"{await self._show(name, amount)} is above the {name} per_tx limit {lim.per_tx}")
            if lim.per_day is not None:
                day = day or await self._spent_today()
                used = day.sent.get(asset, 0)
                if used + amount > await self._units(name, lim.per_day):
                    return refuse(per_day, f"{await self._show(name, amount)} on top of {await self._show(name, used)} sent in the last 24 h exceeds the {name} per_day limit {lim.per_day}")
        for key, amount in spend.granted.items():
            asset, spender = key.split(">")
            token, sname = await self._name(asset), self.ctx.name_of(spender)
            cap = p.spenders[sname][token]  # type: ignore[index]
            if cap == "unlimited":
                continue
            day = day or await self._spent_today()
            before = day.granted.get(key, 0)
            if before + amount > await self._units(token, cap):  # type: ignore[arg-type]
                return refuse("max_approval", f"{await self._show(token, amount)} more for {sname} on top of {await self._show(token, before)} granted in the last 24 h exceeds its cap {cap}")  # type: ignore[arg-type]
        for asset, least in intent.min_received.items():
            got = flows.net.get(asset, 0)
            if got < least:
                name = await self._name(asset) or asset
                return refuse("min_received", f"would receive {got} base units of {name}, below the minimum {least}")
        return None
