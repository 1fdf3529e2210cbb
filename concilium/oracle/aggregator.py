"""Collects verified answers and verdicts per request and says when a quorum is reached.

The contract's rules, applied before anything is submitted: non-numeric kinds need a quorum of
identical values; numeric kinds a quorum of observations from distinct nodes (the contract takes
their median); a request is settled as unanswerable by a quorum of signed verdicts, whatever
their reasons. One entry per signer and request (the first one held); only entries over the
round's own commitment count. What is returned is exactly a quorum, sorted by signer, as
`fulfill` and `settleUnanswerable` want it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from concilium.oracle.kinds import Kind
from concilium.oracle.signing import SignedAnswer


@dataclass(frozen=True)
class SettleRule:
    """What settles a request, as stored with it onchain: a quorum of its epoch, the f that bounds
    the honest band of numeric answers, and how many model families must agree (0 or 1: any)."""

    quorum: int
    f: int = 0
    min_families: int = 0


def agreeing(kind: Kind, answers: list[SignedAnswer]) -> list[SignedAnswer]:
    """What can settle together: every observation (numeric kinds), else the largest group of one value."""
    if kind.numeric:
        return list(answers)
    groups: dict[bytes, list[SignedAnswer]] = defaultdict(list)
    for a in answers:
        groups[a.value].append(a)
    return max(groups.values(), key=len, default=[])


def paid(kind: Kind, answers: list[SignedAnswer], f: int) -> list[SignedAnswer]:
    """The answers the contract pays (and counts families over): the largest group of one value
    (exact kinds), or those within the honest band [x_f, x_(r-1-f)] of the r sorted observations
    (numeric kinds, int256 compared with the sign bit flipped, as the contract does)."""
    if not kind.numeric:
        return agreeing(kind, answers)
    flip = 1 << 255 if kind == Kind.INT else 0
    xs = sorted(int.from_bytes(a.value[:32], "big") ^ flip for a in answers)
    if len(xs) <= 2 * f:
        return []
    lo, hi = xs[f], xs[len(xs) - 1 - f]
    return [a for a in answers if lo <= int.from_bytes(a.value[:32], "big") ^ flip <= hi]


def families(answers: list[SignedAnswer]) -> int:
    """How many model families the answers span (a family is the model id's first 4 bytes)."""
    return len({bytes(a.model_id[:4]) for a in answers})


def settles(kind: Kind, answers: list[SignedAnswer], rule: SettleRule) -> bool:
    """Whether `fulfill` accepts these revealed answers: a quorum agrees, and the paid ones span
    the families the request requires."""
    return (rule.quorum >= 1 and len(agreeing(kind, answers)) >= rule.quorum
            and (rule.min_families <= 1 or families(paid(kind, answers, rule.f)) >= rule.min_families))


class Aggregator:
    def __init__(self) -> None:
        self._answers: dict[int, dict[str, SignedAnswer]] = defaultdict(dict)

    def add(self, a: SignedAnswer) -> bool:
        """Keep the first answer (or verdict) of each signer for a request; False if one is held."""
        held = self._answers[a.request_id]
        if a.signer in held:
            return False
        held[a.signer] = a
        return True

    def held(self, request_id: int) -> list[SignedAnswer]:
        return list(self._answers.get(request_id, {}).values())

    def quorum_set(self, request_id: int, kind: Kind, quorum: int, model_id: bytes | None = None,
                   commitment: bytes | None = None) -> list[SignedAnswer] | None:
        """Exactly `quorum` answers the contract accepts together, or None."""
        return self._exactly(agreeing(kind, self.report(request_id, commitment, model_id)), quorum)

    def report(self, request_id: int, commitment: bytes | None = None, model_id: bytes | None = None) -> list[SignedAnswer]:
        """Every held answer (not verdict) over the commitment: what `fulfill` pays from."""
        return [a for a in self._current(request_id, commitment) if not a.unanswerable
                and (model_id is None or a.model_id == model_id)]

    def verdict_set(self, request_id: int, quorum: int, commitment: bytes | None = None) -> list[SignedAnswer] | None:
        """Exactly `quorum` signed unanswerable verdicts, or None."""
        return self._exactly([a for a in self._current(request_id, commitment) if a.unanswerable], quorum)

    def forget(self, request_id: int) -> None:
        self._answers.pop(request_id, None)

    def _current(self, request_id: int, commitment: bytes | None) -> list[SignedAnswer]:
        return [a for a in self.held(request_id) if commitment is None or a.commitment == commitment]

    @staticmethod
    def _exactly(chosen: list[SignedAnswer], quorum: int) -> list[SignedAnswer] | None:
        if quorum < 1 or len(chosen) < quorum:
            return None
        # exactly a quorum decides that a settlement is possible; `report` gives every entry to pay
        return sorted(chosen, key=lambda a: int(a.signer, 16))[:quorum]
