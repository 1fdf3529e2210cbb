"""AgentOracle's owner-set parameters (IAgentOracle.Params) and its fault model, as Python values.

The registry of n nodes tolerates f = (n - 1) // 3 Byzantine nodes; a result needs
quorum = (n + f) // 2 + 1 signatures (2f + 1 when n = 3f + 1), always a strict majority.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

MAX_NODES = 31
MAX_TEXT_BYTES = 256  # AgentOracle.MAX_TEXT_BYTES: a text answer's UTF-8 bytes


def fault_tolerance(n: int) -> tuple[int, int]:
    """(f, quorum) for a registry of n nodes, exactly as the contract derives them."""
    if not 1 <= n <= MAX_NODES:
        raise ValueError(f"an oracle registry has 1 to {MAX_NODES} nodes, not {n}")
    f = (n - 1) // 3
    return f, (n + f) // 2 + 1


@dataclass(frozen=True)
class OracleParams:
    """Seconds and bytes; every change goes through the contract's timelock (`delay`)."""

    delay: int = 86_400
    min_timeout: int = 60
    max_timeout: int = 86_400
    default_timeout: int = 3_600
    max_prompt_bytes: int = 32_768
    max_options_bytes: int = 4_096
    max_callback_gas: int = 2_000_000
    fulfil_gas: int = 60_000  # fixed gas of a fulfil (estimateFee), beyond the callback
    gas_per_node: int = 30_000  # gas per registered node in a fulfil (a seal checked, a reveal opened, a credit)
    premium: int = 10**12  # wei per registered node, paid on top of the gas (1e-6 ETH)

    def as_tuple(self) -> tuple[int, ...]:
        return astuple(self)

    @classmethod
    def from_tuple(cls, values) -> "OracleParams":
        return cls(*(int(v) for v in values))

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# a local network (tests, demo, `oracle up`): no timelock, short timeouts allowed
LOCAL_PARAMS = OracleParams(delay=0, min_timeout=2)
