"""`- call: {contract: usdc, function: name, args: []}`: a view function's result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from concilium.chain.reads import Read
from concilium.tools.chaindata import clean
from concilium.seams.observation import Observation


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    contract: str
    function: str
    args: list[Any] = []


def _read(ctx, o: Options) -> Read:
    return Read("call", contract=ctx.contracts[o.contract].handle, function=o.function, args=ctx.resolve(o.args))


async def _present(ctx, o: Options, value) -> tuple[str, Any]:
    return f"{o.contract}.{o.function}({', '.join(map(str, o.args))})", clean(value)


def _check(spec, o: Options):
    if m := spec.undefined("contracts", o.contract):
        yield ("contract",), m


OBSERVATION = Observation("call", Options, _read, _present, _check)
