"""Oracle round performance on the real stack. Prints JSON, per network (quorum 3 of 4 and 5
of 7) and per answer kind:

- round latency: from the request's receipt to the fulfil's receipt, next to one node's model
  time for the same question measured alone in the same run (ratio = how much the protocol
  adds on top of thinking once);
- gas used by `fulfill` with the requester an EOA, so the consumer callback is an empty call:
  the oracle's own cost. First round (every signer's credit slot goes from zero) and steady
  state (second round) are both shown. The anchor: Chainlink Functions bills 185k gas of
  overhead per fulfilment.

    .venv/bin/python benchmarks/oracle_round.py [--vllm-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import emit  # noqa: E402

from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402

from concilium.chain.client import ChainClient  # noqa: E402
from concilium.chain.wallets import dev_wallet  # noqa: E402
from concilium.llm.client import ModelClient  # noqa: E402
from concilium.oracle.client import OracleClient  # noqa: E402
from concilium.oracle.kinds import Kind, answer_schema, encode_options, prompt_messages  # noqa: E402
from concilium.oracle.network import LocalOracleNetwork  # noqa: E402
from concilium.stack.embedded import EmbeddedStack  # noqa: E402
from concilium.stack.model import BUNDLED_NAME  # noqa: E402

QUESTIONS = {
    "bool": ("Is 7 a prime number?", None),
    "choice": ("What colour is a clear daytime sky?", ["blue", "green", "red"]),
    "uint": ("How many legs does a spider have?", None),
    "int": ("What is 5 minus 12?", None),
    "text": ("What is the capital of France?", None),
}


async def model_time(model: ModelClient, kind: str) -> float:
    prompt, labels = QUESTIONS[kind]
    k, options = Kind.parse(kind), encode_options(labels or [])
    msgs = [SystemMessage(c) if r == "system" else HumanMessage(c) for r, c in prompt_messages(prompt, k, options)]
    return (await model.decide(msgs, answer_schema(k, options), "answer")).seconds


async def run_network(rpc: str, model: ModelClient, state: Path, n: int, quorum: int, rounds: int) -> dict:
    net = await (await LocalOracleNetwork.deploy(rpc, model, state / f"net{n}", n=n, quorum=quorum, backoff=1.0)).start()
    chain = ChainClient([rpc])
    client = OracleClient(chain, net.oracle, dev_wallet(2))
    out = {}
    try:
        for kind, (prompt, labels) in QUESTIONS.items():
            latencies, gas, signers, alone = [], [], [], []
            for _ in range(rounds):
                alone.append(await model_time(model, kind))
                req = await client.request(prompt, kind, labels=labels, fee=10**15)
                t0 = time.perf_counter()
                req._poll = 0.02
                r = await req.result(300)
                latencies.append(time.perf_counter() - t0)
                gas.append(r.gas_used)
                signers.append(len(r.signers))
            out[kind] = {
                "round_latency_s_median": round(statistics.median(latencies), 3),
                "one_node_model_time_s_median": round(statistics.median(alone), 3),
                "latency_over_model_time": round(statistics.median(latencies) / statistics.median(alone), 2),
                "fulfill_gas_first_round": gas[0],
                "fulfill_gas_steady_state": statistics.median(gas[1:]) if rounds > 1 else None,
                "signers": signers,
            }
    finally:
        await net.stop()
        await chain.close()
    return out


async def main(vllm_url: str | None, rounds: int) -> dict:
    state = Path(tempfile.mkdtemp(prefix="concilium-oracle-bench-"))
    stack = EmbeddedStack(state, progress=lambda m: print(m, file=sys.stderr))
    if vllm_url:
        stack.attach("bundled", vllm_url, BUNDLED_NAME)
    try:
        rpc = (await stack.chain()).url
        server, digest = await stack.model("bundled")
        model = ModelClient(server.url, server.served_name, weights_digest=digest)
        await model_time(model, "bool")  # warm-up: schema compilation
        result = {"benchmark": "oracle_round", "model": BUNDLED_NAME, "rounds_per_kind": rounds,
                  "chainlink_functions_overhead_gas": 185_000}
        for n, q in ((4, 3), (7, 5)):
            result[f"quorum_{q}_of_{n}"] = await run_network(rpc, model, state, n, q, rounds)
        return result
    finally:
        stack.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--vllm-url", default=os.environ.get("CONCILIUM_BENCH_VLLM_URL"))
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    emit("oracle_round", main(a.vllm_url, a.rounds))
