"""`- balance: hot_wallet`: the native balance of a named address."""

from __future__ import annotations

from concilium.chain.reads import Read
from concilium.seams.observation import Observation
from concilium.units import format_ether


def _read(ctx, name: str) -> Read:
    return Read("balance", address=ctx.address(name))


async def _present(ctx, name: str, value) -> tuple[str, str]:
    return f"balance of {name}", format_ether(int(value))


OBSERVATION = Observation("balance", str, _read, _present,
                          check=lambda spec, name: [((), m) for m in [spec.undefined("addresses", name)] if m])
