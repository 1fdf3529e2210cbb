"""Reproducibility of recorded decisions at temperature 0 (what `concilium replay` relies on).

Decisions are made on the real stack (anvil + vLLM + a bundled model) two ways: one agent
stepping alone, and N agents stepping concurrently (their requests batched together in vLLM).
Every recorded decision is then replayed alone, with its recorded messages, schema and
sampling, and compared byte for byte. Prints JSON: decisions, identical, rate, per way.

    .venv/bin/python benchmarks/replay.py [--decisions 8] [--agents 8] [--model bundled] [--vllm-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from concilium.chain.client import ChainClient  # noqa: E402
from concilium.chain.deploy import deploy  # noqa: E402
from concilium.chain.wallets import dev_wallet  # noqa: E402
from concilium.runtime import Runtime  # noqa: E402
from concilium.spec import parse_spec  # noqa: E402
from concilium.stack.bundled import bundled  # noqa: E402
from concilium.stack.embedded import EmbeddedStack  # noqa: E402
from concilium.trail import replay  # noqa: E402

AGENT = """
  - name: keeper-{i}
    model: local
    chain: dev
    wallet: treasury
    instructions: Keep hot_wallet above {floor} ETH; send 0.001 ETH to it when it is below.
    observe: [{{balance: hot_wallet}}, {{balance: treasury}}]
    tools: [send_native]
    policy: {{recipients: [hot_wallet], max_value_per_tx: 0.01 ether, max_value_per_day: 1000 ether}}
"""
HEAD = """
version: 1
models: {local: {serve: "%s", temperature: 0}}
chains: {dev: {rpc: embedded}}
wallets: {treasury: {dev_account: 0}, hot: {dev_account: 1}}
addresses: {hot_wallet: {wallet: hot}, treasury: {wallet: treasury}}
agents:
"""


async def _replay_all(rt: Runtime, records) -> dict:
    client = rt.models["local"]
    same = 0
    diffs = []
    for rec in records:
        r = await replay(rt.store, rec.id, client)
        same += r["identical"]
        if not r["identical"] and len(diffs) < 2:
            diffs.append(r["diff"])
    n = len(records)
    return {"decisions": n, "identical": same, "rate": round(same / n, 3) if n else None, "example_diffs": diffs}


async def main(decisions: int, n_agents: int, model: str, vllm_url: str | None) -> dict:
    state = Path(tempfile.mkdtemp(prefix="concilium-replay-"))
    stack = EmbeddedStack(state, progress=lambda m: print(m, file=sys.stderr))
    entry = bundled(model)
    if vllm_url:
        stack.attach(model, vllm_url, entry.served_name)
    t0 = time.perf_counter()
    try:
        chain = ChainClient([(await stack.chain()).url])
        await chain.w3.provider.make_request("anvil_setBalance", [dev_wallet(1).address, hex(10**18)])
        await deploy(chain, dev_wallet(0), "DemoToken", "USD Coin", "USDC", 10**24)  # some chain activity first
        # different floors give the agents different prompts, as a real service has
        agents_yaml = "".join(AGENT.format(i=i, floor=1 + i) for i in range(n_agents))
        spec = parse_spec(HEAD % model + agents_yaml)
        async with Runtime.open(spec, stack=stack, state_dir=state) as rt:
            agents = list(rt.agents.values())
            alone = [await agents[i % n_agents].step() for i in range(decisions)]
            batched = []
            while len(batched) < decisions:
                batched += await asyncio.gather(*(a.step() for a in agents))
            alone_r = await _replay_all(rt, [r for r in alone if r.output])
            batch_r = await _replay_all(rt, [r for r in batched[:decisions] if r.output])
            model_id = await rt.models["local"].model_id()
        await chain.close()
    finally:
        stack.stop()
    return {
        "benchmark": "replay",
        "model": entry.served_name,
        "model_id": model_id,
        "temperature": 0,
        "made_alone": alone_r,
        f"made_in_batch_of_{n_agents}": batch_r,
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_cores": os.cpu_count(),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=8)
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--model", default="bundled", help="bundled, bundled:smollm2 or bundled:gemma3-270m")
    ap.add_argument("--vllm-url", default=os.environ.get("CONCILIUM_BENCH_VLLM_URL"))
    a = ap.parse_args()
    print(json.dumps(asyncio.run(main(a.decisions, a.agents, a.model, a.vllm_url)), indent=2))
