"""`- pool_price: {base: weth, quote: usdc}`: the mid price of base in quote units, from the
pool of the agent's swap venue (see tools/builtin/_swap.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from concilium.tools.builtin import pool_price
from concilium.seams.observation import Observation


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    base: str
    quote: str


async def _present(ctx, o: Options, value: dict) -> tuple[str, str]:
    return f"price of {o.base} in {o.quote} ({value['venue']})", value["price"]


def _check(spec, o: Options):
    for loc, name in ((("base",), o.base), (("quote",), o.quote)):
        if m := spec.undefined("contracts", name):
            yield loc, m


OBSERVATION = Observation("pool_price", Options, lambda ctx, o: pool_price.read(ctx, {"base": o.base, "quote": o.quote}),
                          _present, _check)
