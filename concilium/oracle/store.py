"""An oracle node's own records: every round it joined (its answer, the peers' answers, the
outcome, the submission and its gas) and the block it has processed up to, so that a restart
resumes where it stopped and never submits twice."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Boolean, Float, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from concilium.db import Base, Database
from concilium.llm.provenance import ModelIdLedger
from concilium.migrations import ORACLE


class BigUint(TypeDecorator):
    """A uint256 from the chain, stored as 78 zero-padded decimal digits: no 64-bit column
    overflows, and text order is numeric order (any SQL database)."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        v = int(value)
        if not 0 <= v < 2**256:
            raise ValueError(f"{v} is not a uint256")
        return f"{v:078d}"

    def process_result_value(self, value, dialect):
        return None if value is None else int(value)


class Round(Base):
    __tablename__ = "oracle_rounds"

    key: Mapped[str] = mapped_column(String(170), primary_key=True)  # "<oracle>:<requestId>:<node>"
    node: Mapped[str] = mapped_column(String(42), index=True)
    oracle: Mapped[str] = mapped_column(String(42))
    request_id: Mapped[int] = mapped_column(BigUint, index=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    # open | answered | submitted | fulfilled | unanswerable | cancelled | expired | skipped
    status: Mapped[str] = mapped_column(String(16), index=True)
    consumer: Mapped[str | None] = mapped_column(String(42))
    kind: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)  # not valid UTF-8 onchain: stored with U+FFFD, prompt_readable False
    prompt_readable: Mapped[bool] = mapped_column(Boolean, default=True)
    options: Mapped[str] = mapped_column(Text, default="0x")
    model_id: Mapped[str | None] = mapped_column(String(66))
    pinned_model: Mapped[str | None] = mapped_column(String(66))
    deadline: Mapped[int] = mapped_column(BigUint)
    fee_wei: Mapped[str] = mapped_column(String(80), default="0")
    commitment: Mapped[str | None] = mapped_column(String(66))  # what this node signs over (EIP-712 Request hash)
    my_answer: Mapped[str | None] = mapped_column(Text)  # JSON: value hex, signature hex, readable
    peer_answers: Mapped[str] = mapped_column(Text, default="{}")  # JSON: signer -> value hex, signature hex
    model_output: Mapped[str | None] = mapped_column(Text)
    submit_tx: Mapped[str | None] = mapped_column(String(66))
    submit_raw: Mapped[str | None] = mapped_column(Text)
    submit_nonce: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[str | None] = mapped_column(Text)
    fulfil_tx: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)

    def as_dict(self) -> dict[str, Any]:
        out = {c.name: getattr(self, c.name) for c in self.__table__.columns}
        out.pop("submit_raw", None)
        for k in ("my_answer", "peer_answers"):
            if out[k]:
                out[k] = json.loads(out[k])
        return out


class Cursor(Base):
    __tablename__ = "oracle_cursor"

    key: Mapped[str] = mapped_column(String(90), primary_key=True)  # "<oracle>:<node>"
    block: Mapped[int] = mapped_column(Integer)


class SkippedEvent(Base):
    """A log the watcher could not process, and why: the cursor moved past it."""

    __tablename__ = "oracle_skipped"

    key: Mapped[str] = mapped_column(String(140), primary_key=True)  # "<oracle>:<node>:<block>:<logIndex>"
    node: Mapped[str] = mapped_column(String(42), index=True)
    block: Mapped[int] = mapped_column(Integer)
    log_index: Mapped[int] = mapped_column(Integer)
    tx: Mapped[str] = mapped_column(String(66))
    event: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float)

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns if c.name != "key"}


class OracleStore(Database, ModelIdLedger):
    migrations = ORACLE  # owns oracle_rounds, oracle_cursor, oracle_skipped, model_ids (each answer's model id preimage)

    async def add_skipped(self, ev: SkippedEvent) -> None:
        await self.init()
        ev.at = time.time()
        async with self.sessions() as s, s.begin():
            await s.merge(ev)

    async def skipped(self, node: str, limit: int = 100) -> list[SkippedEvent]:
        await self.init()
        q = select(SkippedEvent).where(SkippedEvent.node == node).order_by(SkippedEvent.block.desc(), SkippedEvent.log_index.desc())
        async with self.sessions() as s:
            return list(await s.scalars(q.limit(limit)))

    async def skipped_count(self, node: str) -> int:
        await self.init()
        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(SkippedEvent).where(SkippedEvent.node == node)))

    async def count_status(self, node: str, status: str) -> int:
        await self.init()
        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(Round).where(Round.node == node, Round.status == status)))

    async def cursor(self, key: str) -> int | None:
        await self.init()
        async with self.sessions() as s:
            c = await s.get(Cursor, key)
            return c.block if c else None

    async def set_cursor(self, key: str, block: int) -> None:
        await self.init()
        async with self.sessions() as s, s.begin():
            await s.merge(Cursor(key=key, block=block))

    async def get(self, key: str) -> Round | None:
        await self.init()
        async with self.sessions() as s:
            return await s.get(Round, key)

    async def add(self, rnd: Round) -> Round:
        """Insert a round unless it exists (events can be seen twice across restarts)."""
        await self.init()
        async with self.sessions() as s, s.begin():
            existing = await s.get(Round, rnd.key)
            if existing is not None:
                return existing
            rnd.created_at = rnd.updated_at = time.time()
            s.add(rnd)
            return rnd

    async def update(self, rnd: Round, **fields: Any) -> Round:
        for k, v in fields.items():
            setattr(rnd, k, json.dumps(v) if k in ("my_answer", "peer_answers") and not isinstance(v, str) else v)
        rnd.updated_at = time.time()
        async with self.sessions() as s, s.begin():
            await s.merge(rnd)
        return rnd

    async def open_rounds(self, node: str) -> list[Round]:
        await self.init()
        async with self.sessions() as s:
            q = select(Round).where(Round.node == node, Round.status.in_(("open", "answered", "submitted")))
            return list(await s.scalars(q.order_by(Round.request_id)))

    async def by_request(self, request_id: int) -> list[Round]:
        """This store's rounds for a request id (one per oracle the node served)."""
        await self.init()
        async with self.sessions() as s:
            return list(await s.scalars(select(Round).where(Round.request_id == request_id)))

    async def rounds(self, node: str | None = None, limit: int = 100) -> list[Round]:
        await self.init()
        q = select(Round).order_by(Round.request_id.desc()).limit(limit)
        if node:
            q = q.where(Round.node == node)
        async with self.sessions() as s:
            return list(await s.scalars(q))
