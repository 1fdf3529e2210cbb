"""Agent: one step is observe -> plan -> guard -> act -> record.

observe: the configured reads in one batched round trip. plan: the model returns a decision
under a JSON schema built from the agent's write tools. guard: the policy checks the decision
in code and simulates it. act: sign and send, the signed bytes recorded before broadcast.
record: the step's row in the state store, updated at every stage.

Before each step the agent reconciles transactions a previous run left in flight (by hash and
nonce), so a crash between record and receipt never leads to a second transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from concilium.agents.memory import AgentMemory
from concilium.agents.prompt import build_messages, inputs_hash
from concilium.agents.records import StateStore, StepRecord
from concilium.agents.tool_mode import plan_with_tools
from concilium.chain.client import ChainClient, SignedTx
from concilium.chain.flows import Flows, flows_from_logs
from concilium.chain.inflight import settle_inflight
from concilium.chain.wallets import Wallet
from concilium.errors import ChainError, ConciliumError, ModelUnavailable, TxRejected
from concilium.llm.client import ModelClient
from concilium.llm.decisions import Decision, DecisionSchema, InvalidDecision
from concilium.llm.replay import as_dicts
from concilium.spec import AgentSpec, Spec
from concilium.tools.context import ToolContext
from concilium.tools.guard import PolicyGuard, Verdict, allowances_before, balances_around, hidden_outflows
from concilium.tools.ledger import Spend, spend_of
from concilium.tools.observe import observe
from concilium.seams.tool import TOOLS, ToolInputError, TxIntent

log = logging.getLogger("concilium.agent")
ABANDONED = "the process stopped after planning and before signing; nothing was sent"


@dataclass
class Timings:
    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start


def decision_schema(ctx: ToolContext) -> DecisionSchema:
    """noop plus the agent's write tools, each with its argument schema and reason codes."""
    writes = [t for t in ctx.agent.tools if TOOLS[t].writes]
    return DecisionSchema({"noop": None, **{t: TOOLS[t].schema(ctx) for t in writes}})


class Agent:
    def __init__(self, spec: Spec, agent: AgentSpec, chain: ChainClient, model: ModelClient,
                 wallets: dict[str, Wallet], store: StateStore, memory: AgentMemory | None = None,
                 lock: asyncio.Lock | None = None):
        self.spec = agent
        self.memory = memory
        self.name = agent.name
        self.chain = chain
        self.model = model
        self.store = store
        self.ctx = ToolContext.build(spec, agent, chain, wallets)
        self.guard = PolicyGuard(self.ctx, store)
        self.schema = decision_schema(self.ctx)
        self._lock = lock or asyncio.Lock()  # one step at a time per wallet (shared by its agents): daily limits stay exact
        # awaited right before signing; raises to stop the step (the service's lease check)
        self.fence: Callable[[], Awaitable[None]] | None = None

    @property
    def wallet(self) -> Wallet:
        return self.ctx.wallet

    # ------------------------------------------------------------------ the step

    async def step(self, step_id: str | None = None) -> StepRecord:
        """One step; `step_id` names its record (given by callers that hand the id out first)."""
        async with self._lock:
            await self._reconcile()
            t, started = Timings(), time.time()
            with t.stage("observe"):
                observation = await observe(self.ctx)
                memories = await self.memory.recall(json.dumps(observation), self.spec.memory.recall) if self.memory else []
            messages = build_messages(self.spec, observation, self.schema.menu(), sorted(self.ctx.names), memories)
            digest = inputs_hash(self.spec, observation, memories)
            with t.stage("plan"):
                try:
                    if self.spec.mode == "tools":
                        plan = await plan_with_tools(self.model, self.ctx, messages)
                    else:
                        out = await self.model.decide(messages, self.schema.json_schema())
                except ModelUnavailable as e:
                    await self.store.create(self.name, step_id, status="error", started_at=started, observation=observation, error=str(e), timings=t.stages)
                    raise
            prompt = "\n\n".join(str(m.content) for m in messages)
            base = dict(started_at=started, observation=observation, inputs_hash=digest, prompt=prompt,
                        model_id=await self.model.model_id(), model_name=self.model.name, sampling=self.model.sampling.as_dict())
            if self.spec.mode == "tools":
                await self.store.note_model(base["model_id"], await self.model.preimage())
                rec = await self.store.create(self.name, step_id, output=plan.output, **base)
                if plan.decision is None:
                    return await self._remember(await self.store.update(rec, status="error", error=plan.error, timings=t.stages))
                return await self._remember(await self._execute(plan.decision, rec, t))
            t.stages["model"] = out.seconds  # the server round trip inside "plan"
            rec = await self.store.create(self.name, step_id, output=out.text, **{**base, "model_id": out.model_id, "model_name": out.model_name, "sampling": out.sampling})
            await self.store.record_request(rec, as_dicts(messages), self.schema.json_schema(), out.preimage)
            try:
                if out.problem:
                    raise InvalidDecision(f"model output is {out.problem}")
                decision = self.schema.parse(out.value)
            except InvalidDecision as e:
                return await self.store.update(rec, status="error", error=str(e), timings=t.stages)
            return await self._remember(await self._execute(decision, rec, t))

    async def propose(self, decision: Decision) -> StepRecord:
        """Run a decision that did not come from the model through guard -> act -> record,
        exactly as a planned one would (for operators and for showing the guard at work)."""
        async with self._lock:
            await self._reconcile()
            rec = await self.store.create(self.name, model_name="(proposed)", output=decision.model_dump_json())
            return await self._remember(await self._execute(decision, rec, Timings()))

    async def _remember(self, rec: StepRecord) -> StepRecord:
        """Decision and outcome into memory, for recall in later steps."""
        if self.memory is not None:
            outcome = rec.status + (f" by rule {rec.rule}: {rec.verdict}" if rec.status == "refused" else "")
            text = f"decided {rec.action} {rec.args or ''} ({rec.summary or 'nothing to send'}); outcome: {outcome}"
            await self.memory.remember(rec.id, text, {"status": rec.status, "created_at": rec.created_at})
        return rec

    async def _execute(self, decision: Decision, rec: StepRecord, t: Timings) -> StepRecord:
        await self.store.update(rec, action=decision.action, args=decision.args, reason=decision.reason)
        if decision.action == "noop":
            return await self.store.update(rec, status="noop", timings=t.stages)
        with t.stage("guard"):
            intent = None
            verdict = self.guard.check_tool(decision)
            if verdict is None:
                try:
                    intent = await TOOLS[decision.action].build(self.ctx, decision.args)  # type: ignore[misc]
                    verdict = await self.guard.check(decision, intent)
                except ToolInputError as e:
                    verdict = Verdict.refuse(e.rule, str(e))
                except (ValueError, TypeError, ArithmeticError) as e:  # e.g. web3 refusing to encode a value
                    verdict = Verdict.refuse("input", f"{decision.action}: {type(e).__name__}: {str(e)[:200]}")
                except ConciliumError as e:  # the chain did not answer: recorded, then raised
                    await self.store.update(rec, status="error", error=str(e), timings=t.stages)
                    raise
        if intent is not None:
            await self.store.update(rec, summary=intent.summary, value_wei=intent.value_wei)
        if verdict.flows:
            await self.store.update(rec, flows=verdict.flows, ledger=verdict.spend.as_json())
        if not verdict.allowed:
            log.info("refused", extra={"agent": self.name, "rule": verdict.rule})
            return await self.store.update(rec, status="refused", rule=verdict.rule, verdict=verdict.reason, timings=t.stages)
        if verdict.dry_run:
            return await self.store.update(rec, status="dry_run", verdict=verdict.reason, timings=t.stages)
        with t.stage("act"):
            rec = await self._act(intent, verdict, rec)
        return await self.store.update(rec, timings=t.stages)

    async def _act(self, intent: TxIntent, verdict: Verdict, rec: StepRecord) -> StepRecord:
        tx = verdict.tx or await self.chain.prepare(intent.tx(), self.wallet.address, verdict.gas, fee_cap=self.spec.policy.max_gas_price)

        async def record_signed(st: SignedTx) -> None:
            await self.store.update(rec, status="signed", tx_hash=st.hash, nonce=st.nonce, sender=st.sender, raw_tx=st.raw)

        if self.fence is not None:
            await self.fence()
        try:
            signed = await self.chain.send(self.wallet, tx, before_broadcast=record_signed)
        except TxRejected as e:
            return await self.store.update(rec, status="dropped", error=str(e))
        except ChainError as e:
            # unknown whether it reached a node: left "signed", reconciled before the next step
            await self.store.update(rec, error=str(e))
            raise
        await self.store.update(rec, status="sent")
        return await self._record_receipt(rec, await self.chain.wait(signed.hash))

    async def _record_receipt(self, rec: StepRecord, receipt) -> StepRecord:
        """The outcome, and the flows the receipt shows: the ledger counts what was sent."""
        status = "confirmed" if receipt["status"] == 1 else "reverted"
        log.info("transaction settled", extra={"agent": self.name, "tx": rec.tx_hash, "status": status})
        flows = Flows()
        if status == "confirmed":
            tx = await self.chain.w3.eth.get_transaction(receipt["transactionHash"])
            flows = flows_from_logs(receipt["logs"], self.wallet.address, int(tx["value"]), tx["to"])
        spend = spend_of(flows, await allowances_before(self.ctx, flows, receipt["blockNumber"] - 1))
        if status == "confirmed":  # a token that moved more than its events said: count what left
            spend = spend.plus(Spend(hidden_outflows(flows, await balances_around(self.ctx, receipt["blockNumber"]))))
        return await self.store.update(rec, status=status, block_number=receipt["blockNumber"], gas_used=receipt["gasUsed"],
                                       flows=flows.as_list(), ledger=spend.as_json())

    # ------------------------------------------------------------------ recovery

    async def _reconcile(self) -> None:
        """Settle what a previous run left signed or sent (see chain/inflight.py), and mark
        steps it left planned (killed between plan and sign: nothing was sent) abandoned."""
        for rec in await self.store.abandon_unfinished(self.name, ABANDONED):
            log.warning("marked a step abandoned", extra={"agent": self.name, "step": rec.id})
        for rec in await self.store.pending(self.name):
            log.warning("settling a transaction left in flight", extra={"agent": self.name, "tx": rec.tx_hash})
            settled = await settle_inflight(self.chain, rec.tx_hash, rec.raw_tx, rec.sender, rec.nonce)
            if settled.receipt is None:
                await self.store.update(rec, status="dropped", error=settled.note)
            else:
                await self._record_receipt(rec, settled.receipt)

    async def reconcile(self) -> None:
        async with self._lock:
            await self._reconcile()

