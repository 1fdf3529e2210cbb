"""What a member holds from its peers, per round: their commitments, the reveals that open them,
their signatures over the agreed SafeTx. Checks what can be checked on arrival (one commitment per
member and round; a reveal must open the commitment held; only rounds near the current slot) and
wakes the round waiting for a count. Bounded: at most `keep` rounds are held, a round this member
is running is never evicted, and a peer may open at most `per_peer` rounds this member has not
started (so a member flooding made-up round ids cannot push the real round out)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from pydantic import BaseModel

from concilium.committee.messages import Commit, Reveal, SafeSignature
from concilium.peering.guard import Refused


@dataclass
class Held:
    commits: dict[str, Commit] = field(default_factory=dict)
    reveals: dict[str, Reveal] = field(default_factory=dict)
    signatures: dict[str, SafeSignature] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # equivocations and bad reveals, for the record
    opened_by: str | None = None  # the peer whose message created it, until this member runs it


class Inbox:
    def __init__(self, safe: str, members: set[str], slot_now: Callable[[], int], keep: int = 16, per_peer: int = 2):
        self.safe, self.members, self.slot_now, self.keep, self.per_peer = safe, members, slot_now, keep, per_peer
        self.rounds: OrderedDict[str, Held] = OrderedDict()
        self.running: set[str] = set()
        self.changed = asyncio.Condition()

    def held(self, round_id: str, opened_by: str | None = None) -> Held:
        """The round's holdings; `opened_by` a peer when its message would create the round."""
        if round_id not in self.rounds:
            if opened_by is not None and sum(h.opened_by == opened_by for h in self.rounds.values()) >= self.per_peer:
                raise Refused(429, f"{opened_by} opened too many rounds this member has not started")
            self.rounds[round_id] = Held(opened_by=opened_by)
            for old in [r for r in self.rounds if r not in self.running][:max(0, len(self.rounds) - self.keep)]:
                del self.rounds[old]
        return self.rounds[round_id]

    def start(self, round_id: str) -> Held:
        """This member runs `round_id`: it is never evicted while running, and no longer a peer's."""
        h = self.held(round_id)
        h.opened_by = None
        self.running.add(round_id)
        return h

    def finish(self, round_id: str) -> None:
        self.running.discard(round_id)

    async def receive(self, msg: BaseModel) -> None:
        """Raises Refused for what must not be held."""
        slot = int(msg.round_id.split("-s")[1])
        if abs(slot - self.slot_now()) > 2:
            raise Refused(410, f"round {msg.round_id} is not near this member's slot {self.slot_now()}")
        if msg.member not in self.members:
            raise Refused(403, f"{msg.member} is not a member")
        h = self.held(msg.round_id, None if msg.round_id in self.running else msg.member)
        if isinstance(msg, Commit):
            old = h.commits.get(msg.member)
            if old is not None and old.commitment.lower() != msg.commitment.lower():
                h.refused.append(f"{msg.member}: a second, different commitment (equivocation)")
                raise Refused(409, "a different commitment for this round is already held")
            h.commits.setdefault(msg.member, msg)
        elif isinstance(msg, Reveal):
            commit = h.commits.get(msg.member)
            if commit is None:
                raise Refused(409, "no commitment of yours is held for this round")
            if not msg.matches(self.safe, commit):
                h.refused.append(f"{msg.member}: a reveal that does not open its commitment")
                raise Refused(409, "this reveal does not open your commitment")
            h.reveals.setdefault(msg.member, msg)
        elif isinstance(msg, SafeSignature):
            h.signatures.setdefault(msg.member, msg)  # validity is checked against the digest when packing
        async with self.changed:
            self.changed.notify_all()

    async def wait(self, round_id: str, done: Callable[[Held], bool], timeout: float) -> Held:
        """Until `done(held)` or `timeout` seconds; returns what is held either way."""
        h = self.held(round_id)
        deadline = time.monotonic() + timeout
        async with self.changed:
            while not done(h) and (left := deadline - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(self.changed.wait(), left)
                except TimeoutError:
                    break
        return h
