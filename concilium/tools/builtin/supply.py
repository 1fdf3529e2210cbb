"""supply: lend the market's loan token, or deposit its collateral, on Morpho Blue.

    tools: [{supply: {market: "${MORPHO_MARKET_ID}", loan: usdc, collateral: weth}}]
    policy:
      recipients: [morpho]
      spenders: {morpho: {usdc: 10000, weth: 5}}       # approve Morpho first (tool approve)
      limits: {usdc: {per_tx: 5000}, weth: {per_tx: 2}}
"""

from __future__ import annotations

from concilium.llm.decisions import enum
from concilium.tools.args import base_units
from concilium.tools.builtin import _lending
from concilium.tools.builtin._common import amount_schema, per_tx_bound
from concilium.seams.tool import Tool, TxIntent


def schema(ctx, tool: str = "supply") -> dict:
    o = _lending.options(ctx, tool)
    assets = _lending.assets_schema(o.loan, o.collateral)
    return {"type": "object", "additionalProperties": False, "required": ["asset", "amount"], "properties": {
        "asset": enum(assets, "the loan token (lent, earns interest) or the collateral token"),
        "amount": amount_schema(per_tx_bound(ctx, assets), "amount in token units"),
    }}


async def build(ctx, args: dict) -> TxIntent:
    from concilium.protocols import morpho  # web3: not imported while a spec is validated

    m = await _lending.market(ctx, "supply")
    token, is_collateral = m.asset(args.get("asset"))
    units = base_units(args.get("amount"), await ctx.decimals(token.name))
    me = ctx.wallet.address
    call = (morpho.supply_collateral if is_collateral else morpho.supply)(m.morpho.address, m.params, units, me)
    what = "as collateral" if is_collateral else "to lend"
    return TxIntent("supply", call.to, data=call.data, contract=m.morpho.name,
                    summary=f"supply {args['amount']} {token.name} {what} on {m.morpho.name}")


TOOL = Tool("supply", "Lend the market's loan token, or deposit collateral, on Morpho Blue", schema, build=build,
            options=_lending.MarketOptions, check=lambda spec, agent: _lending.check(spec, agent, "supply", sends=True))
