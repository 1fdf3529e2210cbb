"""The demo's DeFi step: the DeFi devnet deployed into the demo's anvil, and the portfolio agent
of examples/portfolio.yaml trading on Uniswap v3 under its policy: one swap the model decided
(amounts in and out, the price it got) and swaps the guard refuses, with the rule."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from concilium.chain.client import ChainClient
from concilium.chain.wallets import dev_wallet
from concilium.llm.decisions import Decision
from concilium.protocols import weth
from concilium.protocols.call import encode
from concilium.runtime import Runtime
from concilium.show import print_step
from concilium.spec import load_spec
from concilium.stack.devnet import deploy_devnet
from concilium.stack.embedded import EmbeddedStack
from concilium.stack.process import Progress

DEPLOYER, PORTFOLIO = 9, 8
SEEDS = 6  # model steps tried until one swaps (a 135M model often does nothing, or what the guard refuses)


async def portfolio_round(stack: EmbeddedStack, rpc: str, file: Path, state_dir: Path, console: Console,
                          progress: Progress) -> None:
    chain = ChainClient([rpc])
    try:
        me = dev_wallet(PORTFOLIO)
        net = await deploy_devnet(chain, dev_wallet(DEPLOYER), progress, fund=[me.address])
        os.environ.update(net.env())
        progress("the portfolio wallet wraps 4 ETH and approves the Uniswap v3 router (operator setup)")
        for call in (weth.wrap(net.weth, 4 * 10**18), encode("erc20", net.weth, "approve", net.uniswap_v3_router, 6 * 10**18),
                     encode("erc20", net.usdc, "approve", net.uniswap_v3_router, 20_000 * 10**6)):
            await chain.transact(me, call.tx(), "setup")
    finally:
        await chain.close()
    console.print(f"devnet: WETH {net.weth}, USDC {net.usdc}, Uniswap v3 pool {net.uniswap_v3_weth_usdc}, Morpho {net.morpho}")

    spec = load_spec(file)
    for seed in range(SEEDS):
        sampled = spec.model_copy(update={"models": {k: m.model_copy(update={"temperature": 0.8, "seed": seed})
                                                     for k, m in spec.models.items()}})
        async with Runtime.open(sampled, stack=stack, state_dir=state_dir / f"portfolio-{seed}", progress=progress) as rt:
            agent = rt.agents["portfolio"]
            before = await _balances(agent)
            record = await agent.step()
            print_step(console, record)
            if record.status == "confirmed":
                await _show_trade(console, agent, before)
                break
    else:
        console.print(f"[dim]in {SEEDS} sampled steps the model did not trade; a proposed rebalancing swap instead:[/dim]")
        async with Runtime.open(spec, stack=stack, state_dir=state_dir / "portfolio", progress=progress) as rt:
            agent = rt.agents["portfolio"]
            before = await _balances(agent)
            print_step(console, await agent.propose(Decision(action="swap", args={"sell": "usdc", "buy": "weth", "amount": 1000},
                                                             reason="rebalance toward half WETH")), observation=False)
            await _show_trade(console, agent, before)

    console.rule("4b. swaps the guard refuses, whatever the model says")
    async with Runtime.open(spec, stack=stack, state_dir=state_dir / "portfolio-refusals", progress=progress) as rt:
        agent = rt.agents["portfolio"]
        for d in (Decision(action="swap", args={"sell": "usdc", "buy": "weth", "amount": 5000}, reason="buy a lot at once"),
                  Decision(action="swap", args={"sell": "weth", "buy": "usdc", "amount": 2.5}, reason="sell more than allowed")):
            console.print(f"proposed: {d.action} {d.args}")
            print_step(console, await agent.propose(d), observation=False)


async def _balances(agent) -> dict[str, int]:
    return {t: int(await agent.ctx.contracts[t].handle.functions.balanceOf(agent.wallet.address).call()) for t in ("weth", "usdc")}


async def _show_trade(console: Console, agent, before: dict[str, int]) -> None:
    after = await _balances(agent)
    moved = {t: Decimal(after[t] - before[t]).scaleb(-await agent.ctx.decimals(t)) for t in after}
    sold = next((t for t, v in moved.items() if v < 0), None)
    if sold is None:
        return
    bought = next(t for t in moved if t != sold)
    usdc, weth_ = abs(moved["usdc"]), abs(moved["weth"])
    console.print(f"  [green]swapped[/green] {-moved[sold]:f} {sold} -> {moved[bought]:f} {bought}: "
                  f"{usdc / weth_:.2f} USDC per WETH")
