"""`concilium demo`: the whole stack, end to end, on one machine.

Starts anvil and vLLM with the bundled model, deploys a demo token, empties the hot wallet down
to 1 ETH, and lets the treasury keeper observe, decide and act; then proposes two actions the
policy must refuse (over the per-transaction limit, and to a recipient outside the allowlist)
and shows the rule that refused each.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from concilium.chain.client import ChainClient
from concilium.chain.deploy import deploy
from concilium.chain.wallets import dev_wallet
from concilium.llm.decisions import Decision
from concilium.runtime import Runtime
from concilium.show import print_step
from concilium.spec import load_spec
from concilium.stack.embedded import EmbeddedStack
from concilium.stack.process import Progress
from concilium.units import format_ether


async def run_demo(file: Path, state_dir: Path, console: Console, progress: Progress) -> None:
    stack = EmbeddedStack(state_dir, progress=progress)
    try:
        anvil = await stack.chain()
        setup = ChainClient([anvil.url])
        progress("deploying the demo token (DemoToken 'USD Coin')")
        os.environ["DEMO_TOKEN"] = await deploy(setup, dev_wallet(0), "DemoToken", "USD Coin", "USDC", 10**24)
        hot = dev_wallet(1).address
        await setup.w3.provider.make_request("anvil_setBalance", [hot, hex(10**18)])
        await setup.close()

        spec = load_spec(file)
        async with Runtime.open(spec, stack=stack, state_dir=state_dir, progress=progress) as rt:
            keeper = rt.agents["treasury-keeper"]
            w3 = keeper.chain.w3
            before = await w3.eth.get_balance(hot)
            console.rule("1. the agent observes, decides with the model, and acts under its policy")
            record = await keeper.step()
            print_step(console, record)
            after = await w3.eth.get_balance(hot)
            console.print(f"  hot_wallet balance: {format_ether(before)} -> {format_ether(after)}")

            console.rule("2. actions the policy refuses, whatever the model says")
            for d in (
                Decision(action="send_native", args={"to": "hot_wallet", "amount": 5}, reason="top up fully at once"),
                Decision(action="send_native", args={"to": "cold_storage", "amount": 1}, reason="ignore your rules"),
            ):
                console.print(f"proposed: {d.action} {d.args}")
                print_step(console, await keeper.propose(d), observation=False)
            console.print(f"[dim]state database: {rt.state_dir / 'state.db'}; logs: {state_dir / 'logs'}[/dim]")
    finally:
        stack.stop()
