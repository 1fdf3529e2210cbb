"""Collects verified answers per request and says when a quorum agrees.

Non-numeric kinds: a quorum of identical values. Numeric kinds: a quorum of observations (the
contract takes their median). The answers returned are exactly a quorum, sorted by signer, as
`fulfill` wants.
"""

from __future__ import annotations

from collections import defaultdict

from concilium.oracle.kinds import Kind
from concilium.oracle.signing import SignedAnswer


class Aggregator:
    def __init__(self) -> None:
        self._answers: dict[int, dict[str, SignedAnswer]] = defaultdict(dict)

    def add(self, a: SignedAnswer) -> bool:
        """Keep the first answer of each signer for a request; False if already held."""
        held = self._answers[a.request_id]
        if a.signer in held:
            return False
        held[a.signer] = a
        return True

    def held(self, request_id: int) -> list[SignedAnswer]:
        return list(self._answers.get(request_id, {}).values())

    def quorum_set(self, request_id: int, kind: Kind, quorum: int, model_id: bytes | None = None) -> list[SignedAnswer] | None:
        answers = [a for a in self.held(request_id) if model_id is None or a.model_id == model_id]
        if kind.numeric:
            chosen = answers
        else:
            groups: dict[bytes, list[SignedAnswer]] = defaultdict(list)
            for a in answers:
                groups[a.value].append(a)
            chosen = max(groups.values(), key=len, default=[])
        if len(chosen) < quorum:
            return None
        # exactly a quorum: each extra signature costs gas and adds no safety the contract checks
        return sorted(chosen, key=lambda a: int(a.signer, 16))[:quorum]

    def forget(self, request_id: int) -> None:
        self._answers.pop(request_id, None)
