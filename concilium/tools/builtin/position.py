"""position (read): the agent's position in the lending market: supplied, collateral, debt, health.

    tools: [position]    # the lending tools' market (see supply)
"""

from __future__ import annotations

from concilium.tools.args import amount_text
from concilium.tools.builtin import _lending
from concilium.tools.builtin._reads import obj
from concilium.seams.tool import Tool


async def read(ctx, args: dict) -> dict:
    m = await _lending.market(ctx, "position")
    p = await m.position(ctx)
    ld, cd = await ctx.decimals(m.loan.name), await ctx.decimals(m.collateral.name)
    return {"market": m.morpho.name, "supplied": f"{amount_text(p.supplied, ld)} {m.loan.name}",
            "collateral": f"{amount_text(p.collateral, cd)} {m.collateral.name}", "debt": f"{amount_text(p.debt, ld)} {m.loan.name}",
            "borrowable_up_to": f"{amount_text(p.max_debt, ld)} {m.loan.name}",
            "health": "no debt" if p.health is None else f"{float(p.health):.3f}"}


TOOL = Tool("position", "This agent's lending position: supplied, collateral, debt and health", lambda ctx: obj({}),
            read=read, options=_lending.MarketOptions, check=lambda spec, agent: _lending.check(spec, agent, "position", sends=False))
