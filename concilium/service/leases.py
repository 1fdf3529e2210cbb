"""Leases: which service instance steps which agent, when several instances share one database.

A lease is a row (agent, holder, expires_at, epoch). An instance steps an agent only while it
holds that agent's lease; it takes a free or expired lease in one atomic upsert, renews the ones
it holds while it lives, and gives them back when it stops cleanly. A killed instance's leases
expire after `ttl` and the next instance whose schedule fires takes them over. `epoch` goes up
each time a lease changes hands; `check()` right before signing fences off an instance that
lost its lease mid-step (paused, partitioned), so one agent is never stepped twice at once.
Instances also hold a presence lease ("@i/<hash>") while they live, so each can count the live
ones and take no more than its fair share of agents; one with more than its share hands the
surplus back, and the others pick those agents up at their next scheduled run.
On a single instance (SQLite) the same code runs and always wins.
"""

from __future__ import annotations

import hashlib
import math
import time

from sqlalchemy import Float, Integer, String, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from concilium.db import Base, Database
from concilium.errors import ConciliumError


class LeaseLost(ConciliumError):
    """Another instance took over this agent's lease; the step stops before signing."""


class Lease(Base):
    __tablename__ = "agent_leases"

    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[float] = mapped_column(Float)
    epoch: Mapped[int] = mapped_column(Integer)


class Leases:
    PRESENCE = "@i/"

    def __init__(self, db: Database, holder: str):
        self.db, self.holder = db, holder
        self.held: dict[str, float] = {}  # agent -> its ttl, for the ones we hold
        self.presence = self.PRESENCE + hashlib.sha1(holder.encode()).hexdigest()[:16]

    async def fair_share(self, agents: int) -> int:
        """How many of `agents` this instance should step: an even split over live instances."""
        async with self.db.sessions() as s:
            live = await s.scalar(select(func.count()).select_from(Lease).where(
                Lease.agent.startswith(self.PRESENCE), Lease.expires_at >= time.time(), Lease.holder != self.holder))
        return math.ceil(agents / (1 + (live or 0)))

    async def release(self, agent: str) -> None:
        async with self.db.sessions() as s, s.begin():
            await s.execute(delete(Lease).where(Lease.agent == agent, Lease.holder == self.holder))
        self.held.pop(agent, None)

    async def acquire(self, agent: str, ttl: float) -> bool:
        """Hold `agent`'s lease for `ttl` more seconds: ours already, free, or expired. Atomic."""
        now = time.time()
        insert = (postgresql.insert if self.db.engine.dialect.name == "postgresql" else sqlite.insert)(Lease)
        stmt = insert.values(agent=agent, holder=self.holder, expires_at=now + ttl, epoch=1).on_conflict_do_update(
            index_elements=[Lease.agent],
            set_={"holder": self.holder, "expires_at": now + ttl,
                  "epoch": case((Lease.holder == self.holder, Lease.epoch), else_=Lease.epoch + 1)},
            where=(Lease.holder == self.holder) | (Lease.expires_at < now))
        async with self.db.sessions() as s, s.begin():
            won = (await s.execute(stmt)).rowcount == 1
        if agent.startswith(self.PRESENCE):
            return won
        if won:
            self.held[agent] = ttl
        else:
            self.held.pop(agent, None)
        return won

    async def renew(self) -> None:
        """Extend every lease we hold; forget the ones taken from us (we were too slow)."""
        for agent, ttl in list(self.held.items()):
            async with self.db.sessions() as s, s.begin():
                r = await s.execute(update(Lease).where(Lease.agent == agent, Lease.holder == self.holder)
                                    .values(expires_at=time.time() + ttl))
            if r.rowcount != 1:
                self.held.pop(agent, None)

    async def check(self, agent: str) -> None:
        """Raise LeaseLost unless we still hold `agent`'s lease (the fence before signing)."""
        async with self.db.sessions() as s:
            row = (await s.execute(select(Lease.holder, Lease.expires_at).where(Lease.agent == agent))).first()
        if row is None or row.holder != self.holder or row.expires_at < time.time():
            self.held.pop(agent, None)
            raise LeaseLost(f"agent {agent}: another instance holds its lease now; this step stops before signing")

    async def release_all(self) -> None:
        async with self.db.sessions() as s, s.begin():
            await s.execute(delete(Lease).where(Lease.holder == self.holder))
        self.held.clear()

    async def holders(self) -> dict[str, str]:
        """agent -> holder, for live leases (the API and dashboard show who steps what)."""
        async with self.db.sessions() as s:
            rows = await s.execute(select(Lease.agent, Lease.holder).where(
                Lease.expires_at >= time.time(), ~Lease.agent.startswith(self.PRESENCE)))
            return {a: h for a, h in rows}
