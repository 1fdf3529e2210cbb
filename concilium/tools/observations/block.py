"""`- block: true`: the head block's number and timestamp."""

from __future__ import annotations

from concilium.chain.reads import Read
from concilium.seams.observation import Observation


async def _present(ctx, _: bool, value) -> tuple[str, dict]:
    return "block", {"number": value["number"], "timestamp": value["timestamp"]}


OBSERVATION = Observation("block", bool, lambda ctx, _: Read("block"), _present)
