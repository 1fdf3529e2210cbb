"""One request's commit-reveal among oracle nodes, over signed seals.

The pure exchange (`concilium.peering.commitreveal`) decides what counts; this keeps the signed
entries beside it so the node can build the fulfil report (every revealed entry whose seal it held
before its own reveal) and slash evidence (two different signed seals from one node). Signatures
are checked by the node before anything reaches here.
"""

from __future__ import annotations

from eth_utils import to_checksum_address

from concilium.oracle.aggregator import SettleRule, settles
from concilium.oracle.kinds import Kind
from concilium.oracle.signing import SignedAnswer
from concilium.peering.commitreveal import CommitReveal, Phase, Reveal, Verdict


class SealedRound:
    def __init__(self, commitment: bytes, me: str, nodes, quorum: int):
        self.state = CommitReveal.open(commitment, me, nodes, quorum)
        self.sealed: dict[str, SignedAnswer] = {}  # signer -> its first signed seal (commit only)
        self.revealed: dict[str, SignedAnswer] = {}  # signer -> its entry with a counted reveal
        self.evidence: list[tuple[SignedAnswer, SignedAnswer]] = []  # equivocations, not yet reported
        self.mine: SignedAnswer | None = None

    @property
    def me(self) -> str:
        return self.state.me

    def commit_own(self, a: SignedAnswer) -> None:
        self.mine = a
        self.state, seal = self.state.commit_own(a.value, a.salt)
        assert seal == a.seal, "the oracle seal and the commit-reveal commitment disagree"
        self.sealed[self.me] = a.commit_only()
        self._sync()

    def add(self, a: SignedAnswer) -> Verdict:
        """A verified entry from a peer: its seal, and (if it carries one) its reveal."""
        signer = to_checksum_address(a.signer)
        before = len(self.state.equivocations)
        self.state, v = self.state.add_commitment(signer, a.seal)
        if len(self.state.equivocations) > before:
            self.evidence.append((self.sealed[signer], a.commit_only()))
            return v
        if not v.kept:
            return v
        self.sealed.setdefault(signer, a.commit_only())
        if a.revealed:
            self.state, v = self.state.add_reveal(Reveal(signer, a.value, a.salt))
        self._sync()
        return v

    @property
    def counted(self) -> frozenset[str]:
        """Nodes whose seal was held before this node revealed (so far, all held): their reveals count."""
        return self.state.early

    def unrevealed(self, barred=frozenset()) -> set[str]:
        """Counted nodes (not equivocating, not barred) whose reveal is not yet held: the report
        would leave them unpaid."""
        return set(self.counted) - set(self.revealed) - set(barred) - {e.participant for e in self.state.equivocations}

    @property
    def ready(self) -> bool:
        """A quorum of seals is held but not every node's: reveal after the grace period (`release`)."""
        return self.state.ready

    def release(self) -> None:
        self.state = self.state.release()
        self._sync()

    @property
    def may_reveal(self) -> SignedAnswer | None:
        """Own full entry (value and salt), once a quorum of seals is held."""
        return self.mine if self.state.may_reveal is not None else None

    def served(self, requester: str) -> list[SignedAnswer]:
        """What `requester` may fetch: every seal; the reveals too once this node has revealed, but
        only to a node whose own seal it holds. A node that asks before sealing (a copier) gets
        nothing to copy; one that sealed first is bound to its value, and a copy would need a second
        seal, which is evidence to slash it."""
        if self.state.phase in (Phase.REVEALING, Phase.CLOSED) and to_checksum_address(requester) in self.sealed:
            return [self.revealed.get(s, e) for s, e in self.sealed.items()]
        return list(self.sealed.values())

    def report(self, kind: Kind, rule: SettleRule | int, pinned: bytes | None = None, barred=frozenset()) -> list[SignedAnswer] | None:
        """Every counted reveal (so every matching node is paid), if they settle the request under
        `rule` (a bare int: a quorum, any family): exact kinds a quorum of one value, numeric kinds
        a quorum of observations, and the paid ones spanning the families the request requires.
        Never an equivocating node's, nor one of `barred` (nodes the contract no longer lets sign):
        the contract would neither count nor pay them, so they only cost gas."""
        rule = SettleRule(rule) if isinstance(rule, int) else rule
        barred = set(barred) | {e.participant for e in self.state.equivocations}
        entries = [a for a in self.revealed.values() if (pinned is None or a.model_id == pinned) and a.signer not in barred]
        return sorted(entries, key=lambda a: int(a.signer, 16)) if settles(kind, entries, rule) else None

    def _sync(self) -> None:
        for signer, r in self.state.reveals.items():
            if signer not in self.revealed:
                base = self.mine if signer == self.me else self.sealed[signer]
                self.revealed[signer] = SignedAnswer(base.request_id, base.commitment, r.value, base.model_id,
                                                     base.signature, base.signer, 0, r.salt, base.seal)


def submission_rank(request_id: int, nodes, me: str, counted=None) -> int:
    """`me`'s place in a round's submission order (0: submit at once; k: wait k back-offs): the
    registry in address order from the leader (index requestId mod n), skipping nodes outside
    `counted` (those whose seal was held only after this node revealed: a copier is never waited
    for, so it cannot be the transmitter that puts itself in the report). Not a node: last."""
    order = sorted(nodes, key=lambda n: int(n, 16))
    if me not in order:
        return len(order)
    lead = request_id % len(order)
    turns = [n for n in order[lead:] + order[:lead] if counted is None or n in counted or n == me]
    return turns.index(me)
