"""The treasury keeper from Python: the same YAML-free setup in code, one step, and a refusal.

    .venv/bin/python examples/sdk_keeper.py

Starts anvil and vLLM (bundled model) like the demo does, deploys a token, steps the agent.
"""

import asyncio
import os
from pathlib import Path

from concilium import Decision, Runtime, parse_spec
from concilium.chain.client import ChainClient
from concilium.chain.deploy import deploy
from concilium.chain.wallets import dev_wallet
from concilium.stack.embedded import EmbeddedStack

SPEC = """
version: 1
models: {local: {serve: bundled}}
chains: {dev: {rpc: embedded}}
wallets: {treasury: {dev_account: 0}, hot: {dev_account: 1}}
addresses: {hot_wallet: {wallet: hot}}
contracts: {usdc: {address: "${DEMO_TOKEN}", abi: erc20}}
agents:
  - name: keeper
    model: local
    chain: dev
    wallet: treasury
    instructions: Keep hot_wallet above 5 ETH; send 1.5 ETH to it when it is below.
    observe: [{balance: hot_wallet}]
    tools: [send_native]
    policy: {recipients: [hot_wallet], max_value_per_tx: 2 ether, max_value_per_day: 10 ether}
"""


async def main() -> None:
    state = Path(".concilium/sdk-example")
    stack = EmbeddedStack(state, progress=print)
    try:
        chain = ChainClient([(await stack.chain()).url])
        os.environ["DEMO_TOKEN"] = await deploy(chain, dev_wallet(0), "DemoToken", "USD Coin", "USDC", 10**24)
        await chain.w3.provider.make_request("anvil_setBalance", [dev_wallet(1).address, hex(10**18)])
        await chain.close()
        async with Runtime.open(parse_spec(SPEC), stack=stack, state_dir=state) as rt:
            keeper = rt.agents["keeper"]
            record = await keeper.step()
            print("decision:", record.action, record.args, "->", record.status, record.tx_hash or record.verdict)
            refused = await keeper.propose(Decision(action="send_native", args={"to": "hot_wallet", "amount": 3}))
            print("proposed 3 ETH ->", refused.status, refused.rule, refused.verdict)
    finally:
        stack.stop()


if __name__ == "__main__":
    asyncio.run(main())
