"""Guard time per DeFi decision on the real devnet (anvil + WETH9, Uniswap v3, Morpho Blue from
npm). Prints JSON: for a Uniswap v3 swap and a Morpho supply, the median and p95 of the tool
building the transaction (the swap quotes first) and of the guard's check with flow simulation
(eth_simulateV1 + traceTransfers, flows judged against the policy), next to the plain eth_call +
estimateGas dry run of the same transaction, measured in the same run, and the guard/eth_call ratio. The cases are
`defi_cases` for benchmarks/guard.py to reuse.

    .venv/bin/python benchmarks/guard_defi.py [--n 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from concilium.chain.wallets import dev_wallet  # noqa: E402
from concilium.llm.decisions import Decision  # noqa: E402
from concilium.protocols.call import encode  # noqa: E402
from concilium.protocols.weth import wrap  # noqa: E402
from concilium.runtime import Runtime  # noqa: E402
from concilium.spec import parse_spec  # noqa: E402
from concilium.stack.devnet import Devnet, deploy_devnet  # noqa: E402
from concilium.stack.embedded import EmbeddedStack  # noqa: E402
from concilium.tools.registry import TOOLS  # noqa: E402

TRADER = 8

YAML = """
version: 1
models: {{local: {{url: "http://127.0.0.1:9/v1", name: unused}}}}   # the guard needs no model
chains: {{dev: {{rpc: embedded}}}}
wallets: {{trader: {{dev_account: {account}}}}}
contracts:
  weth: {{address: "{d.weth}", abi: weth9}}
  usdc: {{address: "{d.usdc}", abi: erc20}}
  router: {{address: "{d.uniswap_v3_router}", abi: uniswap_v3_router}}
  quoter: {{address: "{d.uniswap_v3_quoter}", abi: uniswap_v3_quoter}}
  pool: {{address: "{d.uniswap_v3_weth_usdc}", abi: uniswap_v3_pool}}
  morpho: {{address: "{d.morpho}", abi: morpho_blue}}
agents:
  - name: trader
    model: local
    chain: dev
    wallet: trader
    instructions: benchmark
    tools: [{{swap: {{router: router, quoter: quoter}}}}, {{supply: {{market: "{d.morpho_market_id}", loan: usdc, collateral: weth}}}}]
    policy:
      recipients: [pool, morpho]
      limits: {{weth: {{per_tx: 1, per_day: 1000}}, usdc: {{per_tx: 1000, per_day: 100000}}}}
      max_slippage_bps: 50
"""


def defi_cases() -> dict[str, Decision]:
    return {"swap": Decision(action="swap", args={"sell": "weth", "buy": "usdc", "amount": 0.1}, reason="bench"),
            "supply": Decision(action="supply", args={"asset": "usdc", "amount": 100}, reason="bench")}


async def setup(chain, d: Devnet, account: int) -> None:
    """The trader's WETH and the approvals the swap and the supply need."""
    me = dev_wallet(account)
    for call in (wrap(d.weth, 10 * 10**18), encode("erc20", d.weth, "approve", d.uniswap_v3_router, 10**24),
                 encode("erc20", d.usdc, "approve", d.morpho, 10**24)):
        await chain.transact(me, call.tx(), "setup")


def stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": round(statistics.median(xs) * 1000, 2), "p95_ms": round(xs[int(0.95 * (len(xs) - 1))] * 1000, 2)}


async def measure(agent, decision: Decision, n: int) -> dict:
    build, guard, plain = [], [], []
    for _ in range(n):
        t = time.perf_counter()
        intent = await TOOLS[decision.action].build(agent.ctx, decision.args)
        build.append(time.perf_counter() - t)
        t = time.perf_counter()
        verdict = await agent.guard.check(decision, intent)
        guard.append(time.perf_counter() - t)
        assert verdict.allowed, (verdict.rule, verdict.reason)
        t = time.perf_counter()
        sim = await agent.chain.simulate({"from": agent.wallet.address, **intent.tx()})
        plain.append(time.perf_counter() - t)
        assert sim.ok, sim.error
    g, p = stats(guard), stats(plain)
    return {"tool_build": stats(build), "guard_with_flows": g, "eth_call_baseline": p,
            "guard_over_eth_call_median": round(g["median_ms"] / p["median_ms"], 2)}


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack = EmbeddedStack(Path(tmp))
        try:
            anvil = await stack.chain()
            from concilium.chain.client import ChainClient

            chain = ChainClient([anvil.url])
            t = time.perf_counter()
            d = await deploy_devnet(chain, dev_wallet(9), fund=[dev_wallet(TRADER).address])
            deployed = time.perf_counter() - t
            await setup(chain, d, TRADER)
            await chain.close()
            async with Runtime.open(parse_spec(YAML.format(d=d, account=TRADER)), stack=stack, state_dir=Path(tmp) / "state") as rt:
                agent = rt.agents["trader"]
                out = {name: await measure(agent, dec, n) for name, dec in defi_cases().items()}
            print(json.dumps({"n": n, "devnet_deploy_s": round(deployed, 2), **out}, indent=1))
        finally:
            stack.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    asyncio.run(main(ap.parse_args().n))
