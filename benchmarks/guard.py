"""Guard time per decision on the real anvil. Prints JSON.

For each case (a decision an agent could make), the time `PolicyGuard.check` takes: build the
transaction, simulate it with eth_simulateV1 + traceTransfers, derive the flows and apply the
policy (including the ledger lookup for daily limits). Beside it, in the same run, the plain
dry run the guard used before (eth_call + eth_estimateGas of the same transaction): the ratio is
what judging effects costs. Median and p95 over --runs, after a warm-up.

Adding a case is one entry in CASES: a name and a function (world -> Decision); a case that
needs setup (a pool, a market) deploys it in `deploy_world` or its own setup.

    .venv/bin/python benchmarks/guard.py [--runs 40]
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
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from concilium.chain.client import ChainClient  # noqa: E402
from concilium.chain.deploy import deploy  # noqa: E402
from concilium.chain.wallets import dev_wallet  # noqa: E402
from concilium.llm.decisions import Decision  # noqa: E402
from concilium.protocols.call import encode  # noqa: E402
from concilium.protocols.weth import wrap  # noqa: E402
from concilium.runtime import Runtime  # noqa: E402
from concilium.spec import parse_spec  # noqa: E402
from concilium.stack.devnet import deploy_devnet  # noqa: E402
from concilium.stack.embedded import EmbeddedStack  # noqa: E402
from concilium.stack.model import BUNDLED_NAME  # noqa: E402
from concilium.seams.tool import TOOLS  # noqa: E402

SPEC = """
version: 1
models: {{local: {{serve: bundled}}}}
chains: {{dev: {{rpc: embedded}}}}
wallets: {{treasury: {{dev_account: 0}}, hot: {{dev_account: 1}}}}
addresses: {{treasury: {{wallet: treasury}}, hot_wallet: {{wallet: hot}}}}
contracts:
  usdc: {{address: "{usdc}", abi: "artifact:HostileToken"}}
  weth: {{address: "{weth}", abi: weth9}}                     # the DeFi devnet (concilium/stack/devnet.py)
  dusdc: {{address: "{dusdc}", abi: erc20}}
  router: {{address: "{router}", abi: uniswap_v3_router}}
  quoter: {{address: "{quoter}", abi: uniswap_v3_quoter}}
  pool: {{address: "{pool}", abi: uniswap_v3_pool}}
  morpho: {{address: "{morpho}", abi: morpho_blue}}
agents:
  - name: bench
    model: local
    chain: dev
    wallet: treasury
    instructions: benchmark
    tools:
      - send_native
      - erc20_transfer
      - approve
      - swap: {{router: router, quoter: quoter, fee: 3000}}
      - supply: {{market: "{market}", loan: dusdc, collateral: weth}}
    policy:
      recipients: [hot_wallet, pool, morpho]
      spenders: {{hot_wallet: {{usdc: 1000}}}}
      limits: {{ETH: {{per_tx: 1, per_day: 1000}}, usdc: {{per_tx: 100, per_day: 100000}},
               weth: {{per_tx: 1, per_day: 1000}}, dusdc: {{per_tx: 1000, per_day: 100000}}}}
      max_slippage_bps: 50
"""

CASES: dict[str, Callable[[dict], Decision]] = {
    "send": lambda w: Decision(action="send_native", args={"to": "hot_wallet", "amount": 0.01}),
    "erc20_transfer": lambda w: Decision(action="erc20_transfer", args={"token": "usdc", "to": "hot_wallet", "amount": 1.5}),
    "approve": lambda w: Decision(action="approve", args={"token": "usdc", "spender": "hot_wallet", "amount": 10}),
    # a Uniswap v3 swap (the tool quotes first, so its build is part of the time) and a Morpho supply
    "swap": lambda w: Decision(action="swap", args={"sell": "weth", "buy": "dusdc", "amount": 0.1}),
    "supply": lambda w: Decision(action="supply", args={"asset": "dusdc", "amount": 100}),
}


async def deploy_world(chain: ChainClient) -> dict:
    usdc = await deploy(chain, dev_wallet(0), "HostileToken", "USD Coin", "USDC", 6, 10**15)
    me = dev_wallet(0)
    d = await deploy_devnet(chain, dev_wallet(9), fund=[me.address])
    for call in (wrap(d.weth, 10 * 10**18), encode("erc20", d.weth, "approve", d.uniswap_v3_router, 10**24),
                 encode("erc20", d.usdc, "approve", d.morpho, 10**24)):
        await chain.transact(me, call.tx(), "setup")
    return {"usdc": usdc, "weth": d.weth, "dusdc": d.usdc, "router": d.uniswap_v3_router, "quoter": d.uniswap_v3_quoter,
            "pool": d.uniswap_v3_weth_usdc, "morpho": d.morpho, "market": d.morpho_market_id}


def stats(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"median_ms": round(statistics.median(xs) * 1000, 2), "p95_ms": round(xs[int(0.95 * (len(xs) - 1))] * 1000, 2)}


async def main(runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        stack = EmbeddedStack(Path(tmp))
        stack.attach("bundled", "http://127.0.0.1:9/v1", BUNDLED_NAME)  # no model is asked anything
        try:
            chain = ChainClient([(await stack.chain()).url])
            world = await deploy_world(chain)
            await chain.close()
            async with Runtime.open(parse_spec(SPEC.format(**world)), stack=stack, state_dir=Path(tmp)) as rt:
                agent = rt.agents["bench"]
                out: dict = {"runs": runs, "cases": {}}
                for name, make in CASES.items():
                    decision = make(world)
                    intent = await TOOLS[decision.action].build(agent.ctx, decision.args)
                    tx = {"from": agent.wallet.address, **intent.tx()}
                    guard, plain = [], []
                    for i in range(runs + 3):
                        t0 = time.perf_counter()
                        verdict = await agent.guard.check(decision, await TOOLS[decision.action].build(agent.ctx, decision.args))
                        t1 = time.perf_counter()
                        sim = await agent.chain.simulate(tx)
                        t2 = time.perf_counter()
                        assert verdict.allowed and sim.ok, (verdict, sim)
                        if i >= 3:
                            guard.append(t1 - t0)
                            plain.append(t2 - t1)
                    g, p = stats(guard), stats(plain)
                    out["cases"][name] = {"guard_with_flows": g, "plain_eth_call": p, "flows": len(verdict.flows),
                                          "median_ratio": round(g["median_ms"] / p["median_ms"], 2)}
                out["simulation_method"] = agent.chain.simulator.method
                return out
        finally:
            stack.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    print(json.dumps(asyncio.run(main(ap.parse_args().runs)), indent=1))
