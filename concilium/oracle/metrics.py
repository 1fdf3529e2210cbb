"""Prometheus metrics of one oracle node (its own registry: several nodes live in one process
in tests and `concilium oracle up`). Gauges are read from the node's state when scraped."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class NodeMetrics:
    def __init__(self, node: str) -> None:
        self.registry = r = CollectorRegistry()
        self.node = node
        self.skipped = Counter("concilium_oracle_skipped_events_total", "Events skipped as unprocessable", registry=r)
        self.task_failures = Counter("concilium_oracle_task_failures_total", "Node tasks that raised", ["task"], registry=r)
        self.rounds = Counter("concilium_oracle_rounds_total", "Rounds by how they ended", ["outcome"], registry=r)
        self.peer_rejections = Counter("concilium_oracle_peer_rejections_total", "Peer calls refused", ["reason"], registry=r)
        self.lag = Gauge("concilium_oracle_watcher_lag_blocks", "Confirmed head minus the watcher's cursor", registry=r)
        self.alive = Gauge("concilium_oracle_watcher_alive", "1 if the watcher synced recently", registry=r)
        self.dead = Gauge("concilium_oracle_dead_tasks", "Supervised tasks not running now", registry=r)

    def bind(self, lag: Callable[[], float], alive: Callable[[], float], dead: Callable[[], float]) -> None:
        self.lag.set_function(lag)
        self.alive.set_function(alive)
        self.dead.set_function(dead)

    def render(self) -> bytes:
        return generate_latest(self.registry)
