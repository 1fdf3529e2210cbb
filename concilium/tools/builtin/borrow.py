"""borrow: borrow the market's loan token against the deposited collateral, to the agent's wallet.

    tools: [{borrow: {min_health: 1.5}}]     # the lending tools' market (see supply)
    policy: {limits: {usdc: {per_tx: 1000}}} # the model's bound for one borrow

Nothing leaves the wallet, so the flow limits do not bound a borrow: the tool refuses (rule
`health`) a borrow that would leave health (what the collateral allows at the market's LLTV,
over the debt) below `min_health`, default 1.25, and the schema bounds one borrow by the loan
token's per_tx limit.
"""

from __future__ import annotations

from fractions import Fraction

from concilium.tools.args import base_units
from concilium.tools.builtin import _lending
from concilium.tools.builtin._common import amount_schema, per_tx_bound
from concilium.seams.tool import Tool, TxIntent


def schema(ctx) -> dict:
    o = _lending.options(ctx, "borrow")
    return {"type": "object", "additionalProperties": False, "required": ["amount"], "properties": {
        "amount": amount_schema(per_tx_bound(ctx, [o.loan] if o.loan else []), f"{o.loan} to borrow, in token units")}}


async def build(ctx, args: dict) -> TxIntent:
    from concilium.protocols import morpho  # web3: not imported while a spec is validated

    m = await _lending.market(ctx, "borrow")
    units = base_units(args.get("amount"), await ctx.decimals(m.loan.name))
    pos = await m.position(ctx)
    health = Fraction(pos.max_debt, pos.debt + units)
    if health < Fraction(m.min_health):
        raise _lending.HealthRefused(f"borrowing {args['amount']} {m.loan.name} would leave health {float(health):.2f}, below min_health {m.min_health}")
    me = ctx.wallet.address
    call = morpho.borrow(m.morpho.address, m.params, units, me, me)
    return TxIntent("borrow", call.to, data=call.data, contract=m.morpho.name, min_received={m.loan.address: units},
                    summary=f"borrow {args['amount']} {m.loan.name} from {m.morpho.name}")


TOOL = Tool("borrow", "Borrow the loan token against deposited collateral on Morpho Blue", schema, build=build,
            options=_lending.MarketOptions, check=lambda spec, agent: _lending.check(spec, agent, "borrow", sends=False))
