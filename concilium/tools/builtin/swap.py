"""swap: sell an exact amount of one named token for another on Uniswap v2 or v3.

    tools: [{swap: {router: uni_router, quoter: uni_quoter, fee: 3000}}]
    policy:
      recipients: [weth_usdc_pool]            # the pool receives what the wallet sells
      spenders: {uni_router: {usdc: 5000, weth: 2}}   # approve the router first (tool approve)
      limits: {weth: {per_tx: 1, per_day: 3}, usdc: {per_tx: 3000, per_day: 9000}}
      max_slippage_bps: 50

The tool quotes first. The least the wallet must receive is the amount's worth at the pool's mid
price less `max_slippage_bps` (so the fee and the trade's own price impact count against it); the
tool states it as `min_received` and the guard holds the simulated inflow to it, whatever the
calldata says. The router's `amountOutMinimum` is that bound too (or the quote, if lower, so
that a trade the bound refuses is refused by the guard's rule rather than by a revert), the
deadline is the latest block's time plus `deadline` seconds, and the tokens bought go to the
agent's own wallet: neither is the model's to choose.
"""

from __future__ import annotations

import asyncio

from concilium.tools.args import amount_text, base_units
from concilium.tools.builtin import _swap
from concilium.tools.builtin._common import amount_schema, need, per_tx_bound, token_limits
from concilium.tools.builtin._reads import token_names
from concilium.seams.tool import Tool, TxIntent


def schema(ctx) -> dict:
    return _swap.trade_schema(token_limits(ctx), token_names(ctx),
                              lambda t: amount_schema(per_tx_bound(ctx, [t]), f"how much {t} to sell, in token units"))


async def build(ctx, args: dict) -> TxIntent:
    from concilium.protocols import uniswap_v2, uniswap_v3  # web3: not imported while a spec is validated

    sell, buy = _swap.tokens(ctx, args)
    amount_in = base_units(args.get("amount"), await ctx.decimals(sell.name))
    v = _swap.venue(ctx, "swap")
    p, block = await asyncio.gather(_swap.price(ctx, v, sell.address, buy.address, amount_in), ctx.chain.w3.eth.get_block("latest"))
    least = p.mid * (10_000 - ctx.agent.policy.max_slippage_bps) // 10_000
    min_out = min(least, p.quoted)
    deadline, me = int(block["timestamp"]) + v.deadline, ctx.wallet.address
    if v.kind == "uniswap_v2":
        call = uniswap_v2.swap_exact_in(v.router.address, amount_in, min_out, [sell.address, buy.address], me, deadline)
    else:
        call = uniswap_v3.swap_exact_in(v.router.address, sell.address, buy.address, v.fee, amount_in, min_out, me, deadline)
    dec = await ctx.decimals(buy.name)
    return TxIntent("swap", call.to, data=call.data, contract=v.router.name, min_received={buy.address: least},
                    summary=f"swap {amount_text(amount_in, await ctx.decimals(sell.name))} {sell.name} for at least "
                            f"{amount_text(least, dec)} {buy.name} on {v.label} (quoted {amount_text(p.quoted, dec)})")


def check(spec, agent):
    yield from _swap.check(spec, agent, "swap")
    yield from need(agent.policy.max_slippage_bps is not None, ("max_slippage_bps",),
                    "swap needs policy.max_slippage_bps: the most a swap may lose against the mid price, e.g. 50")
    yield from need(any(a != "ETH" for a in agent.policy.limits), ("limits",), "swap needs policy.limits for the tokens it sells")


TOOL = Tool("swap", "Sell an exact amount of a token for another on Uniswap, at no worse than the policy's slippage",
            schema, build=build, options=_swap.SwapOptions, check=check)
