"""`concilium demo`: the whole stack, end to end, on one machine.

Starts anvil and vLLM with the bundled model, deploys a demo token, empties the hot wallet down
to 1 ETH, and lets the treasury keeper observe, decide and act; then proposes two actions the
policy must refuse (over the per-transaction limit, and to a recipient outside the allowlist)
and shows the rule that refused each. Then one oracle round: an example prediction market asks
AgentOracle a yes/no question, four nodes answer, a quorum of three signs, the callback settles
the market and the fee is credited to the nodes that agreed. Last, DeFi (demo_portfolio.py): the
protocols deployed from npm, a portfolio agent's swap on Uniswap v3 and the swaps its guard refuses.
Then a committee (demo_committee.py): four members behind a Safe agree on a top-up; a Byzantine
member proposes a transfer to an outsider and nothing leaves.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from hexbytes import HexBytes
from rich.console import Console

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.deploy import deploy
from concilium.chain.wallets import dev_wallet
from concilium.demo_portfolio import portfolio_round
from concilium.demo_committee import committee_rounds
from concilium.llm.decisions import Decision
from concilium.oracle.network import LocalOracleNetwork
from concilium.runtime import Runtime, model_client
from concilium.show import print_step
from concilium.spec import ModelSpec, load_spec
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

        console.rule("3. the oracle: a contract asks, 4 nodes answer with their models, a quorum of 3 signs")
        await oracle_round(stack, anvil.url, state_dir / "oracle", console, progress)

        console.rule("4. DeFi: a portfolio agent trades on Uniswap v3 (deployed from npm) under its policy")
        await portfolio_round(stack, anvil.url, file.parent / "portfolio.yaml", state_dir, console, progress)

        console.rule("5. a committee: 4 members, one Safe, a transaction only when 3 agree")
        await committee_rounds(file.parent / "committee.yaml", anvil.url, state_dir / "committee", console, progress)
    finally:
        stack.stop()


async def oracle_round(stack: EmbeddedStack, rpc: str, state_dir: Path, console: Console, progress: Progress) -> None:
    """A YesNoMarket asks AgentOracle its question; four local nodes answer and settle it."""
    model = await model_client(ModelSpec(serve="bundled"), stack, "bundled")
    progress("deploying AgentOracle with 4 nodes (quorum 3) and the example YesNoMarket")
    net = await (await LocalOracleNetwork.deploy(rpc, model, state_dir, n=4, backoff=1.0)).start()
    chain = ChainClient([rpc])
    try:
        question = "Is 7 a prime number?"
        fee = 4 * 10**15
        closes_at = (await chain.w3.eth.get_block("latest"))["timestamp"] + 4  # bets close, then it may be asked
        market_addr = await deploy(chain, dev_wallet(2), "YesNoMarket", net.oracle, question, closes_at, fee, 100_000)
        market = chain.contract(market_addr, artifact("YesNoMarket")["abi"])
        for who, yes in ((2, True), (3, False)):
            await _call(chain, dev_wallet(who), market, "bet", [yes], value=10**18)
        while (await chain.w3.eth.get_block("latest"))["timestamp"] < closes_at:
            await asyncio.sleep(0.5)
            await chain.w3.provider.make_request("evm_mine", [])
        await _call(chain, dev_wallet(2), market, "resolve", [], value=fee)
        request_id = await market.functions.requestId().call()
        console.print(f"YesNoMarket {market_addr} asked: [bold]{question}[/bold] (request {request_id}, fee {format_ether(fee)})")
        for _ in range(600):
            if await market.functions.resolved().call():
                break
            await asyncio.sleep(0.1)
        else:
            console.print("[yellow]no quorum within 60 s[/yellow]")
            return
        oracle = chain.contract(net.oracle, artifact("AgentOracle")["abi"])
        [event] = await oracle.events.Fulfilled().get_logs(from_block=0, argument_filters={"requestId": request_id})
        signers = set(event["args"]["signers"])
        for node in net.nodes:
            rnd = await node.store.get(node._key(request_id))
            mine = json.loads(rnd.my_answer)["readable"] if rnd and rnd.my_answer else "(no answer)"
            credit = await oracle.functions.credits(node.address).call()
            mark = "signed the result" if node.address in signers else "not in the quorum"
            console.print(f"  node {node.address[:10]}… answered {mine:<5} model {rnd.model_id[:12]}…  {mark}, credited {format_ether(credit)}")
        receipt = await chain.w3.eth.get_transaction_receipt(event["transactionHash"])
        console.print(f"  fulfil tx {HexBytes(event['transactionHash']).to_0x_hex()} gas {receipt['gasUsed']}, callback ok: {event['args']['callbackOk']}")
        console.print(f"market resolved: outcome = [bold]{'yes' if await market.functions.outcome().call() else 'no'}[/bold]")
    finally:
        await net.stop()
        await chain.close()


async def _call(chain: ChainClient, wallet, contract, fn: str, args: list, value: int = 0) -> None:
    await chain.transact(wallet, {"to": contract.address, "data": contract.encode_abi(fn, args=args), "value": value}, fn)
