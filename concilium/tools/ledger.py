"""What a transaction spent, as the day's ledger counts it: per asset, the amount that left the
wallet; per (token, spender), the allowance newly granted (an increase over the allowance
before; a revocation grants nothing). Built from flows (chain/flows.py): from the simulation
while a transaction is in flight, from its receipt once it is mined."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from concilium.chain.flows import ETH, UNLIMITED, Flows


@dataclass(frozen=True)
class Spend:
    sent: dict[str, int] = field(default_factory=dict)  # asset ("ETH" or token address) -> base units
    granted: dict[str, int] = field(default_factory=dict)  # "token>spender" -> base units

    @property
    def wei(self) -> int:
        return self.sent.get(ETH, 0)

    def plus(self, other: "Spend") -> "Spend":
        return Spend(_add(self.sent, other.sent), _add(self.granted, other.granted))

    def as_json(self) -> dict[str, Any]:
        return {"sent": {k: str(v) for k, v in self.sent.items()}, "granted": {k: str(v) for k, v in self.granted.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> "Spend":
        d = d or {}
        return cls({k: int(v) for k, v in d.get("sent", {}).items()}, {k: int(v) for k, v in d.get("granted", {}).items()})


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def grant_key(asset: str, spender: str) -> str:
    return f"{asset}>{spender}"


def spend_of(flows: Flows, allowance_before: dict[str, int]) -> Spend:
    """`allowance_before` maps grant_key -> the allowance before the transaction (0 if unknown)."""
    granted: dict[str, int] = {}
    for f in flows.of("approval"):
        key = grant_key(f.asset, f.counterparty)
        increase = f.amount if f.amount == UNLIMITED else max(0, f.amount - allowance_before.get(key, 0))
        if increase:
            granted[key] = granted.get(key, 0) + increase
    return Spend(flows.sent(), granted)
