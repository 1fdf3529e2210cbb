"""What a member holds from its peers, per round: their commitments, the reveals that open them,
their signatures over the agreed SafeTx. Checks what can be checked on arrival (one commitment per
member and round; a reveal must open the commitment held; only rounds near the current slot) and
wakes the round waiting for a count. Bounded: only the last `keep` rounds are held."""

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


class Inbox:
    def __init__(self, safe: str, members: set[str], slot_now: Callable[[], int], keep: int = 16):
        self.safe, self.members, self.slot_now, self.keep = safe, members, slot_now, keep
        self.rounds: OrderedDict[str, Held] = OrderedDict()
        self.changed = asyncio.Condition()

    def held(self, round_id: str) -> Held:
        if round_id not in self.rounds:
            self.rounds[round_id] = Held()
            while len(self.rounds) > self.keep:
                self.rounds.popitem(last=False)
        return self.rounds[round_id]

    async def receive(self, msg: BaseModel) -> None:
        """Raises Refused for what must not be held."""
        slot = int(msg.round_id.split("-s")[1])
        if abs(slot - self.slot_now()) > 2:
            raise Refused(410, f"round {msg.round_id} is not near this member's slot {self.slot_now()}")
        if msg.member not in self.members:
            raise Refused(403, f"{msg.member} is not a member")
        h = self.held(msg.round_id)
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
