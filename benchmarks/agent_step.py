"""Agent step performance on the real stack (anvil + vLLM + bundled model). Prints JSON:

- median step time split into observe / plan / guard / act (record is the store writes: the
  step's wall time minus the stages);
- the framework's own overhead: step time minus model time (server round trip) minus RPC time
  (time inside the JSON-RPC provider), median over sequential steps of one agent;
- throughput (steps/s) for 1 agent stepping alone and for 16 agents stepping concurrently, and
  their ratio, measured in the same run (the machine is shared: compare ratios, not seconds).

    .venv/bin/python benchmarks/agent_step.py [--steps 12] [--agents 16] [--vllm-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import emit  # noqa: E402

from concilium.chain.client import ChainClient  # noqa: E402
from concilium.chain.deploy import deploy  # noqa: E402
from concilium.chain.rpc import FailoverProvider  # noqa: E402
from concilium.chain.wallets import dev_wallet  # noqa: E402
from concilium.errors import ConciliumError  # noqa: E402
from concilium.runtime import Runtime  # noqa: E402
from concilium.spec import parse_spec  # noqa: E402
from concilium.stack.embedded import EmbeddedStack  # noqa: E402
from concilium.stack.model import BUNDLED_NAME  # noqa: E402

AGENT = """
  - name: keeper-{i}
    model: local
    chain: dev
    wallet: treasury
    instructions: Keep hot_wallet above 5 ETH; send 0.001 ETH to it when it is below.
    observe: [{{balance: hot_wallet}}, {{balance: treasury}}, {{erc20_balance: {{token: usdc, holder: hot_wallet}}}}]
    tools: [send_native]
    policy: {{recipients: [hot_wallet], max_value_per_tx: 0.01 ether, max_value_per_day: 1000 ether}}
"""
HEAD = """
version: 1
models: {local: {serve: bundled}}
chains: {dev: {rpc: embedded}}
wallets: {treasury: {dev_account: 0}, hot: {dev_account: 1}}
addresses: {hot_wallet: {wallet: hot}, treasury: {wallet: treasury}}
contracts: {usdc: {address: "%s", abi: erc20}}
agents:
"""


class RpcClock:
    """Time spent inside the JSON-RPC provider (sequential runs only)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        for name in ("make_request", "make_batch_request"):
            original = getattr(FailoverProvider, name)

            async def timed(self_, *a, _orig=original, **k):
                t = time.perf_counter()
                try:
                    return await _orig(self_, *a, **k)
                finally:
                    self.seconds += time.perf_counter() - t

            setattr(FailoverProvider, name, timed)


async def main(steps: int, n_agents: int, vllm_url: str | None) -> dict:
    state = Path(tempfile.mkdtemp(prefix="concilium-bench-"))
    stack = EmbeddedStack(state, progress=lambda m: print(m, file=sys.stderr))
    if vllm_url:
        stack.attach("bundled", vllm_url, BUNDLED_NAME)
    clock = RpcClock()
    failures: list[str] = []
    try:
        chain = ChainClient([(await stack.chain()).url])
        token = await deploy(chain, dev_wallet(0), "DemoToken", "USD Coin", "USDC", 10**24)
        await chain.w3.provider.make_request("anvil_setBalance", [dev_wallet(1).address, hex(10**18)])
        spec = parse_spec(HEAD % token + "".join(AGENT.format(i=i) for i in range(n_agents)))
        async with Runtime.open(spec, stack=stack, state_dir=state) as rt:
            agents = list(rt.agents.values())
            await _steps(agents[0], 1, failures)  # warm-up: connections, schema compilation in vLLM
            # sequential steps of one agent: stage split and overhead
            rows = []
            t_one = 0.0
            for _ in range(steps):
                rpc0 = clock.seconds
                t0 = time.perf_counter()
                rec = await _step(agents[0], failures)
                wall = time.perf_counter() - t0
                t_one += wall
                if rec is not None and rec.timings:
                    rows.append({"wall": wall, "rpc": clock.seconds - rpc0, **json.loads(rec.timings)})
            one_agent_rate = len(rows) / t_one
            # 16 agents, concurrently, the same number of steps each; model requests queue in the
            # client's in-flight limit (llm/admission.py), so a slow server slows steps down
            # instead of failing them all together
            t0 = time.perf_counter()
            done = await asyncio.gather(*(_steps(a, steps, failures) for a in agents))
            many_rate = sum(done) / (time.perf_counter() - t0)
            statuses = [r.status for r in await rt.store.recent(limit=10_000)]
        await chain.close()
    finally:
        stack.stop()

    if not rows:
        return {"benchmark": "agent_step", "error": "no step completed", "failures": sorted(set(failures))[:3]}

    def med(key: str) -> float:
        return round(statistics.median(r.get(key, 0.0) for r in rows) * 1000, 2)

    for r in rows:
        r["record"] = r["wall"] - sum(r.get(k, 0.0) for k in ("observe", "plan", "guard", "act"))
        r["overhead"] = r["wall"] - r["model"] - r["rpc"]
    return {
        "benchmark": "agent_step",
        "model": BUNDLED_NAME,
        "steps_per_agent": steps,
        "median_ms": {k: med(k) for k in ("wall", "observe", "plan", "guard", "act", "record", "model", "rpc")},
        "framework_overhead_median_ms": med("overhead"),
        "framework_overhead_share": round(statistics.median(r["overhead"] / r["wall"] for r in rows), 4),
        "throughput_steps_per_s": {"1_agent": round(one_agent_rate, 3), f"{n_agents}_agents": round(many_rate, 3),
                                   "ratio": round(many_rate / one_agent_rate, 2)},
        "outcomes": {s: statuses.count(s) for s in sorted(set(statuses))},
        "failed_steps": len(failures),
        "first_failures": sorted(set(failures))[:3],
        "cpu_cores": os.cpu_count(),
    }


async def _step(agent, failures: list[str]):
    """One step; a failure (model server too slow or gone, chain error) is counted, not raised."""
    try:
        return await agent.step()
    except ConciliumError as e:
        failures.append(str(e).splitlines()[0])
        return None


async def _steps(agent, n: int, failures: list[str]) -> int:
    return sum([await _step(agent, failures) is not None for _ in range(n)])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--agents", type=int, default=16)
    ap.add_argument("--vllm-url", default=os.environ.get("CONCILIUM_BENCH_VLLM_URL"))
    a = ap.parse_args()
    emit("agent_step", main(a.steps, a.agents, a.vllm_url))
