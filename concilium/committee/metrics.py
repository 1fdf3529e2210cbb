"""Prometheus metrics of one committee member (its own registry: several members may share a
process in tests and the demo)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from concilium.committee.round import CommitteeRound


class MemberMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.rounds = Counter("concilium_committee_rounds_total", "Committee rounds by final state", ["state"], registry=r)
        self.votes = Counter("concilium_committee_votes_total", "Revealed votes seen, by action and whether they counted",
                             ["action", "counted"], registry=r)
        self.latency = Histogram("concilium_committee_round_seconds", "Round time from tick to final state", registry=r,
                                 buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128))

    def record(self, rnd: CommitteeRound, seconds: float) -> None:
        self.rounds.labels(str(rnd.state)).inc()
        self.latency.observe(seconds)
        for c in (rnd.agreement.votes if rnd.agreement else ()):
            self.votes.labels(c.vote.action[:64], str(c.key is not None and not c.note).lower()).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
