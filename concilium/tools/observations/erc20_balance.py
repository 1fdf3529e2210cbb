"""`- erc20_balance: {token: usdc, holder: hot_wallet}`: a token balance in token units."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from concilium.chain.reads import Read
from concilium.tools.args import amount_text
from concilium.seams.observation import Observation


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    token: str
    holder: str


def _read(ctx, o: Options) -> Read:
    return Read("call", contract=ctx.contracts[o.token].handle, function="balanceOf", args=(ctx.address(o.holder),))


async def _present(ctx, o: Options, value) -> tuple[str, str]:
    return f"{o.token} balance of {o.holder}", amount_text(int(value), await ctx.decimals(o.token))


def _check(spec, o: Options):
    for loc, section, name in ((("token",), "contracts", o.token), (("holder",), "addresses", o.holder)):
        if m := spec.undefined(section, name):
            yield loc, m


OBSERVATION = Observation("erc20_balance", Options, _read, _present, _check)
