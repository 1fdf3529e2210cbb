"""The state store: one row per agent step, written as the step goes.

A row is created when the plan is made and updated through guard and act. The signed
transaction (hash, nonce, raw bytes; never a key) is written *before* it is broadcast, so after
a crash `pending()` returns it and the agent reconciles instead of deciding again. SQLite via
aiosqlite by default; any async SQLAlchemy URL (postgresql+asyncpg://...) in production.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import Float, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from concilium.db import Base, Database
from concilium.llm.provenance import ModelIdLedger
from concilium.migrations import STATE


class StepRecord(Base):
    __tablename__ = "steps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agent: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    started_at: Mapped[float | None] = mapped_column(Float)  # when the step began observing
    updated_at: Mapped[float] = mapped_column(Float)
    # planned | noop | refused | dry_run | signed | sent | confirmed | reverted | dropped | error | abandoned
    status: Mapped[str] = mapped_column(String(16), index=True)
    inputs_hash: Mapped[str | None] = mapped_column(String(66))
    observation: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[str | None] = mapped_column(String(66))
    model_name: Mapped[str | None] = mapped_column(String(200))
    sampling: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(String(64))
    args: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(32))
    verdict: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    value_wei: Mapped[str] = mapped_column(String(80), default="0")
    token: Mapped[str | None] = mapped_column(String(64))
    token_amount: Mapped[str] = mapped_column(String(80), default="0")
    flows: Mapped[str | None] = mapped_column(Text)  # the wallet's asset flows: simulated, then from the receipt
    ledger: Mapped[str | None] = mapped_column(Text)  # what counts towards daily limits (tools/ledger.py)
    sender: Mapped[str | None] = mapped_column(String(42))
    nonce: Mapped[int | None] = mapped_column(Integer)
    tx_hash: Mapped[str | None] = mapped_column(String(66), index=True)
    raw_tx: Mapped[str | None] = mapped_column(Text)
    block_number: Mapped[int | None] = mapped_column(Integer)
    gas_used: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    timings: Mapped[str | None] = mapped_column(Text)

    def as_dict(self) -> dict[str, Any]:
        out = {c.name: getattr(self, c.name) for c in self.__table__.columns}
        for k in ("observation", "sampling", "args", "timings", "flows", "ledger"):
            if out[k]:
                out[k] = json.loads(out[k])
        return out


class StepRequest(Base):
    """The exact model request behind a step (messages and JSON schema), for `concilium replay`.
    Added beside `steps` (and `model_ids`, see llm/provenance.py) without changing it."""

    __tablename__ = "step_requests"

    step_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    messages: Mapped[str] = mapped_column(Text)  # JSON: [{"role": "system"|"user", "content": ...}]
    schema: Mapped[str] = mapped_column(Text)  # JSON: the decision schema the answer was constrained to
    schema_name: Mapped[str] = mapped_column(String(64), default="decision")


SPENDING = ("signed", "sent", "confirmed")  # statuses whose value counts towards daily limits
IN_FLIGHT = ("signed", "sent")


def _json(v: Any) -> str | None:
    return None if v is None else json.dumps(v, default=str, sort_keys=True)


class StateStore(Database, ModelIdLedger):
    migrations = STATE  # owns steps, agent_leases, step_requests, model_ids

    async def create(self, agent: str, id: str | None = None, **fields: Any) -> StepRecord:
        await self.init()
        now = time.time()
        rec = StepRecord(id=id or str(uuid.uuid4()), agent=agent, created_at=now, updated_at=now, status="planned")
        self._assign(rec, fields)
        async with self.sessions() as s, s.begin():
            s.add(rec)
        return rec

    async def update(self, rec: StepRecord, **fields: Any) -> StepRecord:
        self._assign(rec, fields)
        rec.updated_at = time.time()
        async with self.sessions() as s, s.begin():
            await s.merge(rec)
        return rec

    @staticmethod
    def _assign(rec: StepRecord, fields: dict[str, Any]) -> None:
        for k, v in fields.items():
            if k in ("observation", "sampling", "args", "timings", "flows", "ledger"):
                v = _json(v)
            elif k in ("value_wei", "token_amount"):
                v = str(v)
            setattr(rec, k, v)

    async def record_request(self, rec: StepRecord, messages: list[dict[str, str]], schema: dict[str, Any],
                             preimage: dict[str, Any], schema_name: str = "decision") -> None:
        """What was asked of which model for this step: the request, and the model id's preimage."""
        if rec.model_id and preimage:
            await self.note_model(rec.model_id, preimage)
        async with self.sessions() as s, s.begin():
            await s.merge(StepRequest(step_id=rec.id, messages=json.dumps(messages), schema=json.dumps(schema),  # key order kept: it orders the output
                                      schema_name=schema_name))

    async def request(self, step_id: str) -> StepRequest | None:
        await self.init()
        async with self.sessions() as s:
            return await s.get(StepRequest, step_id)

    async def get(self, step_id: str) -> StepRecord | None:
        await self.init()
        async with self.sessions() as s:
            return await s.get(StepRecord, step_id)

    async def find(self, **where: Any) -> list[StepRecord]:
        """Steps whose columns equal the given values (e.g. tx_hash=...)."""
        await self.init()
        q = select(StepRecord).order_by(StepRecord.created_at)
        for k, v in where.items():
            q = q.where(getattr(StepRecord, k) == v)
        async with self.sessions() as s:
            return list(await s.scalars(q))

    async def pending(self, agent: str) -> list[StepRecord]:
        """Signed or sent transactions whose outcome is not yet recorded."""
        await self.init()
        async with self.sessions() as s:
            rows = await s.scalars(select(StepRecord).where(StepRecord.agent == agent, StepRecord.status.in_(IN_FLIGHT)).order_by(StepRecord.created_at))
            return list(rows)

    async def abandon_unfinished(self, agent: str, reason: str) -> list[StepRecord]:
        """Mark steps a dead process left `planned` (decided, never signed) as abandoned.
        Call only while holding the agent's step lock (and its lease), so none of them is live."""
        await self.init()
        async with self.sessions() as s, s.begin():
            rows = list(await s.scalars(select(StepRecord).where(StepRecord.agent == agent, StepRecord.status == "planned")))
            for r in rows:
                r.status, r.error, r.updated_at = "abandoned", reason, time.time()
        return rows

    async def refusals_by_rule(self) -> dict[str, int]:
        await self.init()
        async with self.sessions() as s:
            rows = await s.execute(select(StepRecord.rule, func.count()).where(StepRecord.status == "refused").group_by(StepRecord.rule))
            return {rule or "?": n for rule, n in rows}

    async def spent_since(self, agent: str, since: float, sender: str | None = None) -> "Spend":
        """What the agent's transactions since `since` sent and granted (with `sender`: every
        agent's transactions from that wallet): from receipts once mined, from the simulation
        while in flight; refused, reverted and dropped count nothing."""
        from concilium.tools.ledger import Spend  # here, not at the top: reading the trail needs no web3

        await self.init()
        async with self.sessions() as s:
            rows = await s.scalars(select(StepRecord.ledger).where(
                StepRecord.sender == sender if sender else StepRecord.agent == agent, StepRecord.created_at >= since,
                StepRecord.status.in_(SPENDING)))
            total = Spend()
            for ledger in rows:
                total = total.plus(Spend.from_json(json.loads(ledger) if ledger else None))
            return total

    async def recent(self, agent: str | None = None, limit: int = 50) -> list[StepRecord]:
        await self.init()
        q = select(StepRecord).order_by(StepRecord.created_at.desc()).limit(limit)
        if agent:
            q = q.where(StepRecord.agent == agent)
        async with self.sessions() as s:
            return list(await s.scalars(q))

