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

from concilium.oracle.kinds import Kind
from concilium.oracle.signing import SignedAnswer


def agreeing(kind: Kind, answers: list[SignedAnswer]) -> list[SignedAnswer]:
    """What can settle together: every observation (numeric kinds), else the largest group of one value."""
    if kind.numeric:
        return list(answers)
    groups: dict[bytes, list[SignedAnswer]] = defaultdict(list)
    for a in answers:
        groups[a.value].append(a)
    return max(groups.values(), key=len, default=[])


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
