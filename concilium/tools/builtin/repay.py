"""repay: pay back borrowed tokens on Morpho Blue. An amount at or above the debt repays it all
(by shares, so the interest accrued to the block is included and nothing is overpaid).

    tools: [repay]       # the lending tools' market (see supply); recipients must name morpho
"""

from __future__ import annotations

from concilium.tools.args import amount_text, base_units
from concilium.tools.builtin import _lending
from concilium.tools.builtin._common import amount_schema, per_tx_bound
from concilium.seams.tool import AmountRefused, Tool, TxIntent


def schema(ctx) -> dict:
    o = _lending.options(ctx, "repay")
    return {"type": "object", "additionalProperties": False, "required": ["amount"], "properties": {
        "amount": amount_schema(per_tx_bound(ctx, [o.loan] if o.loan else []), f"{o.loan} to repay, in token units")}}


async def build(ctx, args: dict) -> TxIntent:
    from concilium.protocols import morpho  # web3: not imported while a spec is validated

    m = await _lending.market(ctx, "repay")
    dec = await ctx.decimals(m.loan.name)
    units = base_units(args.get("amount"), dec)
    pos = await m.position(ctx)
    if pos.borrow_shares == 0:
        raise AmountRefused(f"repay: no {m.loan.name} debt on {m.morpho.name}")
    me = ctx.wallet.address
    if units >= pos.debt:
        call, shown = morpho.repay_shares(m.morpho.address, m.params, pos.borrow_shares, me), f"all ({amount_text(pos.debt, dec)})"
    else:
        call, shown = morpho.repay(m.morpho.address, m.params, units, me), args["amount"]
    return TxIntent("repay", call.to, data=call.data, contract=m.morpho.name,
                    summary=f"repay {shown} {m.loan.name} on {m.morpho.name}")


TOOL = Tool("repay", "Pay back borrowed tokens on Morpho Blue", schema, build=build, options=_lending.MarketOptions,
            check=lambda spec, agent: _lending.check(spec, agent, "repay", sends=True))
