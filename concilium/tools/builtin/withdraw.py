"""withdraw: take back lent tokens or collateral from Morpho Blue, to the agent's wallet.

    tools: [withdraw]        # the lending tools' market (see supply)

Taking collateral out is refused (rule `health`) when it would leave the position's health
below `min_health` (default 1.25).
"""

from __future__ import annotations

from fractions import Fraction

from concilium.tools.args import amount_text, base_units
from concilium.tools.builtin import _lending, supply
from concilium.seams.tool import AmountRefused, Tool, TxIntent


async def build(ctx, args: dict) -> TxIntent:
    from concilium.protocols import morpho  # web3: not imported while a spec is validated

    m = await _lending.market(ctx, "withdraw")
    token, is_collateral = m.asset(args.get("asset"))
    dec = await ctx.decimals(token.name)
    units = base_units(args.get("amount"), dec)
    me = ctx.wallet.address
    pos = await m.position(ctx)
    if is_collateral:
        if units > pos.collateral:
            raise AmountRefused(f"withdraw {args['amount']} {token.name}: only {amount_text(pos.collateral, dec)} is deposited")
        if pos.debt:
            health = Fraction(pos.max_debt * (pos.collateral - units), pos.collateral * pos.debt)
            if health < Fraction(m.min_health):
                raise _lending.HealthRefused(f"withdrawing {args['amount']} {token.name} would leave health {float(health):.2f}, below min_health {m.min_health}")
        call = morpho.withdraw_collateral(m.morpho.address, m.params, units, me, me)
    else:
        if units > pos.supplied:
            raise AmountRefused(f"withdraw {args['amount']} {token.name}: only {amount_text(pos.supplied, dec)} is supplied")
        call = morpho.withdraw(m.morpho.address, m.params, units, me, me)
    return TxIntent("withdraw", call.to, data=call.data, contract=m.morpho.name, min_received={token.address: units},
                    summary=f"withdraw {args['amount']} {token.name} from {m.morpho.name}")


TOOL = Tool("withdraw", "Take back lent tokens or collateral from Morpho Blue", lambda ctx: supply.schema(ctx, "withdraw"),
            build=build, options=_lending.MarketOptions, check=lambda spec, agent: _lending.check(spec, agent, "withdraw", sends=False))
