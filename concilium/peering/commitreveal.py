"""Commit, then reveal: one participant's view of a commit-reveal exchange, as a state machine.

Used by the oracle's answer exchange (concilium/oracle/exchange.py). The committee round still runs
its own, simpler exchange (committee/member.py: commit, wait, reveal); folding it onto this one is
open work.
Each participant first sends a commitment, the hash of (subject, participant, salt, hash of its
value), where the subject binds the exchange to one request (the oracle's request commitment, a
committee round's id). Values are revealed only once a threshold of commitments is held, so no
one can copy a value before it is revealed. A reveal counts only if it matches a commitment this
participant held *before it revealed its own value*: a commitment that arrives later may have
been made from values already revealed (a copier), and earns nothing; so a slow honest participant is not left
out, the caller waits a grace period after the threshold before it releases its own value. Two different commitments
from one participant are equivocation, kept as evidence.

    COMMITTING --threshold--> REVEALING (own value released): at once when every member's
        commitment is held, or on `release()` (the caller's grace period) once a threshold is
    REVEALING --reveals_in--> CLOSED           (a threshold of matching reveals held)
    COMMITTING / REVEALING --timeout--> TIMED_OUT

Pure: no network, no clock. The caller sends what `advance` says may now be sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from enum import StrEnum

from eth_abi import encode
from eth_utils import keccak, to_checksum_address


class Phase(StrEnum):
    COMMITTING = "committing"
    REVEALING = "revealing"
    CLOSED = "closed"
    TIMED_OUT = "timed_out"


class Step(StrEnum):
    THRESHOLD = "threshold"      # >= threshold commitments held, own among them: reveal own value
    REVEALS_IN = "reveals_in"    # >= threshold matching reveals held
    TIMEOUT = "timeout"          # the phase's deadline passed


TRANSITIONS: dict[tuple[Phase, Step], Phase] = {
    (Phase.COMMITTING, Step.THRESHOLD): Phase.REVEALING,
    (Phase.COMMITTING, Step.TIMEOUT): Phase.TIMED_OUT,
    (Phase.REVEALING, Step.REVEALS_IN): Phase.CLOSED,
    (Phase.REVEALING, Step.TIMEOUT): Phase.TIMED_OUT,
}
TERMINAL = frozenset(p for p in Phase if not any(src == p for src, _ in TRANSITIONS))


class InvalidStep(ValueError):
    pass


def new_salt() -> bytes:
    return os.urandom(32)


def commitment_of(subject: bytes, participant: str, salt: bytes, value: bytes) -> bytes:
    """keccak256(abi.encode(bytes32 keccak256(value), bytes32 salt, address participant, bytes32 subject)):
    the same bytes as AgentOracle's seal (`sealOf`), so the oracle's seal is this commitment."""
    return keccak(encode(["bytes32", "bytes32", "address", "bytes32"],
                         [keccak(bytes(value)), bytes(salt), to_checksum_address(participant), bytes(subject)]))


@dataclass(frozen=True)
class Reveal:
    participant: str
    value: bytes
    salt: bytes


@dataclass(frozen=True)
class Verdict:
    """What happened to one incoming message: kept, or refused with a reason."""

    kept: bool
    reason: str = ""


@dataclass(frozen=True)
class Equivocation:
    """Two different commitments from one participant for one subject: evidence for a slash."""

    participant: str
    first: bytes
    second: bytes


@dataclass(frozen=True)
class CommitReveal:
    """One participant's exchange for one subject; every method returns a new value."""

    subject: bytes
    me: str
    members: frozenset[str]
    threshold: int
    phase: Phase = Phase.COMMITTING
    commitments: dict[str, bytes] = field(default_factory=dict)  # participant -> commitment
    early: frozenset[str] = frozenset()  # participants whose commitment was held before own reveal
    reveals: dict[str, Reveal] = field(default_factory=dict)  # matching reveals only
    equivocations: tuple[Equivocation, ...] = ()
    own: Reveal | None = None
    history: tuple[tuple[Phase, Step], ...] = ()

    @classmethod
    def open(cls, subject: bytes, me: str, members, threshold: int) -> "CommitReveal":
        members = frozenset(to_checksum_address(m) for m in members)
        me = to_checksum_address(me)
        if me not in members:
            raise InvalidStep(f"{me} is not a member of this exchange")
        if not 0 < threshold <= len(members):
            raise InvalidStep(f"threshold {threshold} is not within 1..{len(members)}")
        return cls(bytes(subject), me, members, threshold)

    @property
    def done(self) -> bool:
        return self.phase in TERMINAL

    def commit_own(self, value: bytes, salt: bytes | None = None) -> tuple["CommitReveal", bytes]:
        """Fix own value; returns the new state and the commitment to send."""
        if self.own is not None:
            raise InvalidStep("own value already committed")
        salt = salt if salt is not None else new_salt()
        c = commitment_of(self.subject, self.me, salt, value)
        nxt, _ = replace(self, own=Reveal(self.me, bytes(value), bytes(salt))).add_commitment(self.me, c)
        return nxt, c

    def add_commitment(self, participant: str, commitment: bytes) -> tuple["CommitReveal", Verdict]:
        p = to_checksum_address(participant)
        if p not in self.members:
            return self, Verdict(False, f"{p} is not a member")
        held = self.commitments.get(p)
        if held == commitment:
            return self, Verdict(True, "already held")
        if held is not None:
            return replace(self, equivocations=self.equivocations + (Equivocation(p, held, bytes(commitment)),)), \
                Verdict(False, "a second, different commitment from this participant (equivocation)")
        if self.done:
            return self, Verdict(False, f"exchange is {self.phase}")
        early = self.early | {p} if self.phase is Phase.COMMITTING else self.early
        nxt = replace(self, commitments={**self.commitments, p: bytes(commitment)}, early=early)
        return nxt._maybe(Step.THRESHOLD), Verdict(True, "" if p in early else "late: held after own reveal, earns nothing")

    def add_reveal(self, r: Reveal) -> tuple["CommitReveal", Verdict]:
        p = to_checksum_address(r.participant)
        held = self.commitments.get(p)
        if held is None:
            return self, Verdict(False, "no commitment held from this participant")
        if commitment_of(self.subject, p, r.salt, r.value) != held:
            return self, Verdict(False, "reveal does not match its commitment")
        if p not in self.early:
            return self, Verdict(False, "commitment arrived after own reveal (possible copy): not counted")
        if self.phase is Phase.COMMITTING:
            return self, Verdict(False, "reveal before the threshold of commitments: not yet accepted")
        nxt = replace(self, reveals={**self.reveals, p: Reveal(p, bytes(r.value), bytes(r.salt))})
        return nxt._maybe(Step.REVEALS_IN), Verdict(True)

    @property
    def ready(self) -> bool:
        """A threshold of commitments (own among them) is held: `release()` may reveal."""
        return self.phase is Phase.COMMITTING and self.own is not None and len(self.commitments) >= self.threshold

    def release(self) -> "CommitReveal":
        """Reveal own value now (after the grace period), if a threshold of commitments is held."""
        return self._maybe(Step.THRESHOLD, force=True)

    def timeout(self) -> "CommitReveal":
        return self.advance(Step.TIMEOUT)

    @property
    def may_reveal(self) -> Reveal | None:
        """Own reveal, once the threshold of commitments is held (None before)."""
        return self.own if self.phase in (Phase.REVEALING, Phase.CLOSED) else None

    def advance(self, step: Step) -> "CommitReveal":
        nxt = TRANSITIONS.get((self.phase, step))
        if nxt is None:
            raise InvalidStep(f"no transition from {self.phase} on {step}")
        return replace(self, phase=nxt, history=self.history + ((self.phase, step),))

    def _maybe(self, step: Step, force: bool = False) -> "CommitReveal":
        ready = {Step.THRESHOLD: self.ready and (force or len(self.commitments) == len(self.members)),
                 Step.REVEALS_IN: self.phase is Phase.REVEALING and len(self.reveals) >= self.threshold}[step]
        if not ready:
            return self
        nxt = self.advance(step)
        if step is Step.THRESHOLD:  # own value is now released and counts as a matching reveal
            nxt = replace(nxt, reveals={**nxt.reveals, self.me: self.own})._maybe(Step.REVEALS_IN)
        return nxt
