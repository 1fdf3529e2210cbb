"""A committee member's own trail: every round it took part in, as it saw it. One row per
(Safe, round, member), written whole at each stage from the `CommitteeRound` value: every
member's revealed vote (action, arguments, reason, model id, whether and why it counted), the
silent members, the agreed action, the owners' signatures, the Safe tx hash and the chain tx.
`export` gives the same as JSON-able dicts (for `concilium committee status`, the API, audits).
Never a key: only addresses and public signatures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Float, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from concilium.committee.canonical import Agreement
from concilium.committee.round import CommitteeRound
from concilium.db import Base, Database
from concilium.migrations import COMMITTEE


class RoundRow(Base):
    __tablename__ = "committee_rounds"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)  # "<safe>:<round>:<member>"
    safe: Mapped[str] = mapped_column(String(42), index=True)
    round_id: Mapped[str] = mapped_column(String(48), index=True)
    member: Mapped[str] = mapped_column(String(42), index=True)
    safe_nonce: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(Text)       # JSON {tool, args}
    votes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    silent: Mapped[str] = mapped_column(Text, default="[]")
    signatures: Mapped[str] = mapped_column(Text, default="{}")  # owner -> 0x signature
    safe_tx_hash: Mapped[str | None] = mapped_column(String(66))
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    reason: Mapped[str] = mapped_column(Text, default="")
    history: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


def _votes(a: Agreement | None) -> list[dict[str, Any]]:
    if a is None:
        return []
    return [{"member": c.vote.member, "action": c.vote.action, "args": c.vote.args, "reason": c.vote.reason,
             "model_id": c.vote.model_id, "counted": c.key is not None and not c.note, "note": c.note} for c in a.votes]


def _json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


class CommitteeStore(Database):
    migrations = COMMITTEE  # owns committee_rounds

    @staticmethod
    def path(state_dir: Path, committee: str, member: str) -> Path:
        """Where a member's store lives in a state dir (the SDK, the CLI and the service API agree)."""
        return Path(state_dir) / f"committee-{committee}-{member}.db"

    @classmethod
    def for_member(cls, state_dir: Path, committee: str, member: str) -> "CommitteeStore":
        return cls.sqlite(cls.path(state_dir, committee, member))

    async def record(self, safe: str, rnd: CommitteeRound, signatures: dict[str, str] | None = None) -> None:
        """Write the round as it stands (insert or replace: one write per stage)."""
        await self.init()
        a = rnd.agreement
        key = f"{safe}:{rnd.round_id}:{rnd.member}"
        now = time.time()
        async with self.sessions() as s, s.begin():
            old = await s.get(RoundRow, key)
            row = RoundRow(
                key=key, safe=safe, round_id=rnd.round_id, member=rnd.member, safe_nonce=rnd.safe_nonce, state=str(rnd.state),
                outcome=str(a.outcome) if a else None,
                action=_json({"tool": a.action, "args": a.args, "supporters": a.supporters}) if a and a.action else None,
                votes=_json(_votes(a)), silent=_json(list(a.silent) if a else []),
                signatures=_json(signatures if signatures is not None else json.loads(old.signatures) if old else {}),
                safe_tx_hash=rnd.safe_tx_hash, tx_hash=rnd.tx_hash, reason=rnd.reason,
                history=_json([[str(st), str(ev)] for st, ev in rnd.history]),
                created_at=old.created_at if old else now, updated_at=now)
            await s.merge(row)

    async def export(self, safe: str | None = None, member: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest rounds first, as JSON-able dicts."""
        await self.init()
        q = select(RoundRow).order_by(RoundRow.updated_at.desc()).limit(limit)
        if safe:
            q = q.where(RoundRow.safe == safe)
        if member:
            q = q.where(RoundRow.member == member)
        async with self.sessions() as s:
            rows = list(await s.scalars(q))
        out = []
        for r in rows:
            d = {c.name: getattr(r, c.name) for c in RoundRow.__table__.columns}
            for k in ("action", "votes", "silent", "signatures", "history"):
                d[k] = json.loads(d[k]) if d[k] else None
            out.append(d)
        return out
