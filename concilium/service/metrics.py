"""Prometheus metrics of one service (its own registry, so that several services, or tests,
can live in one process)."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.steps = Counter("concilium_steps_total", "Agent steps by outcome status", ["agent", "status"], registry=r)
        self.decisions = Counter("concilium_decisions_total", "Decisions by action", ["agent", "action"], registry=r)
        self.refusals = Counter("concilium_refusals_total", "Guard refusals by rule", ["agent", "rule"], registry=r)
        self.transactions = Counter("concilium_transactions_total", "Transactions by result (sent, failed)", ["agent", "result"], registry=r)
        self.step_failures = Counter("concilium_step_failures_total", "Steps that raised (model down, RPC down)", ["agent", "error"], registry=r)
        self.model_latency = Histogram("concilium_model_latency_seconds", "Model server round trip", ["agent"], registry=r,
                                       buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64))
        self.rpc_latency = Histogram("concilium_observe_latency_seconds", "Observation reads (one RPC batch)", ["agent"], registry=r,
                                     buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5))

    def record(self, rec) -> None:
        self.steps.labels(rec.agent, rec.status).inc()
        if rec.action:
            self.decisions.labels(rec.agent, rec.action).inc()
        if rec.status == "refused":
            self.refusals.labels(rec.agent, rec.rule or "?").inc()
        if rec.status in ("confirmed",):
            self.transactions.labels(rec.agent, "sent").inc()
        elif rec.status in ("reverted", "dropped"):
            self.transactions.labels(rec.agent, "failed").inc()
        timings = json.loads(rec.timings) if rec.timings else {}
        if "model" in timings:
            self.model_latency.labels(rec.agent).observe(timings["model"])
        if "observe" in timings:
            self.rpc_latency.labels(rec.agent).observe(timings["observe"])

    def render(self) -> bytes:
        return generate_latest(self.registry)
