"""Agent service throughput on the real stack. Prints JSON:

- steps per second for 1, 8 and 32 agents stepping concurrently inside one AgentService,
  next to raw concurrent requests to the same vLLM server with the very same prompts, schema
  and sampling, measured in the same run and interleaved (framework efficiency = service / raw;
  the goal is >= 0.9);
- the service's resident memory per agent (RSS growth from 1 to 32 agents, divided by 31).

    .venv/bin/python benchmarks/service_throughput.py [--rounds 3] [--vllm-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import emit  # noqa: E402

from concilium.agents.prompt import build_messages  # noqa: E402
from concilium.chain.client import ChainClient  # noqa: E402
from concilium.chain.deploy import deploy  # noqa: E402
from concilium.chain.wallets import dev_wallet  # noqa: E402
from concilium.service.service import AgentService  # noqa: E402
from concilium.spec import parse_spec  # noqa: E402
from concilium.stack.embedded import EmbeddedStack  # noqa: E402
from concilium.stack.model import BUNDLED_NAME  # noqa: E402
from concilium.tools.observe import observe  # noqa: E402

AGENT = """
  - name: a{i}
    model: local
    chain: dev
    wallet: treasury
    instructions: Keep hot_wallet above 5 ETH; send 0.001 ETH to it when it is below.
    schedule: {{every: 1h}}
    observe: [{{balance: hot_wallet}}, {{balance: treasury}}]
    tools: [send_native]
    policy: {{recipients: [hot_wallet], max_value_per_tx: 0.01 ether, max_value_per_day: 1000 ether}}
"""
HEAD = textwrap.dedent("""
version: 1
models: {local: {serve: bundled}}
chains: {dev: {rpc: embedded}}
wallets: {treasury: {dev_account: 0}, hot: {dev_account: 1}}
addresses: {hot_wallet: {wallet: hot}, treasury: {wallet: treasury}}
api: {enabled: false}
agents:
""")


async def raw_rate(service: AgentService, rounds: int) -> float:
    """The same requests the agents make, straight to vLLM, as concurrently."""
    agents = list(service.agents.values())
    jobs = []
    for a in agents:
        obs = await observe(a.ctx)
        jobs.append((a, build_messages(a.spec, obs, a.schema.menu(), sorted(a.ctx.addresses)), a.schema.json_schema()))

    async def one(a, msgs, schema) -> None:
        for _ in range(rounds):
            await a.model.decide(msgs, schema)

    t = time.perf_counter()
    await asyncio.gather(*(one(*j) for j in jobs))
    return rounds * len(jobs) / (time.perf_counter() - t)


async def service_rate(service: AgentService, rounds: int) -> float:
    async def one(name: str) -> None:
        for _ in range(rounds):
            await service.run_step(name)

    t = time.perf_counter()
    await asyncio.gather(*(one(n) for n in service.agents))
    return rounds * len(service.agents) / (time.perf_counter() - t)


async def main(rounds: int, vllm_url: str | None) -> dict:
    state = Path(tempfile.mkdtemp(prefix="concilium-service-bench-"))
    stack = EmbeddedStack(state, progress=lambda m: print(m, file=sys.stderr))
    if vllm_url:
        stack.attach("bundled", vllm_url, BUNDLED_NAME)
    proc = psutil.Process()
    out: dict = {"benchmark": "service_throughput", "model": BUNDLED_NAME, "rounds_per_agent": rounds, "cpu_cores": os.cpu_count()}
    rss: dict[int, int] = {}
    try:
        chain = ChainClient([(await stack.chain()).url])
        await stack.model("bundled")
        await chain.w3.provider.make_request("anvil_setBalance", [dev_wallet(1).address, hex(10**18)])
        await deploy(chain, dev_wallet(0), "DemoToken", "warm", "W", 1)
        await chain.close()
        for n in (1, 8, 32):
            spec = parse_spec(HEAD + "".join(AGENT.format(i=i) for i in range(n)))
            async with AgentService.open(spec, stack=stack, state_dir=state / f"n{n}", api=False) as svc:
                rss[n] = proc.memory_info().rss
                await service_rate(svc, 1)  # warm-up: schema compiled in vLLM, connections open
                raw, served = [], []
                for _ in range(2):  # interleaved, so that machine noise hits both alike
                    raw.append(await raw_rate(svc, rounds))
                    served.append(await service_rate(svc, rounds))
                r, s = max(raw), max(served)
                out[f"{n}_agents"] = {"service_steps_per_s": round(s, 3), "raw_vllm_requests_per_s": round(r, 3),
                                      "framework_efficiency": round(s / r, 3)}
        out["memory_per_agent_mb"] = round((rss[32] - rss[1]) / 31 / 2**20, 2)
        out["service_rss_mb_32_agents"] = round(rss[32] / 2**20, 1)
        return out
    finally:
        stack.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--vllm-url", default=os.environ.get("CONCILIUM_BENCH_VLLM_URL"))
    a = ap.parse_args()
    emit("service_throughput", main(a.rounds, a.vllm_url))
