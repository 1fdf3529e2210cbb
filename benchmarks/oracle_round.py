"""Oracle round performance and economics on the real stack. Prints JSON:

- per network (4 nodes, f=1, quorum 3; 7 nodes, f=2, quorum 5) and per answer kind: round
  latency from the request's receipt to the fulfil's receipt, next to one node's model time for
  the same question measured alone in the same run (the ratio: what commit, reveal and
  settlement add on top of thinking once), the gas of each `fulfill` the nodes sent, how many
  nodes the report carried and how many were paid;
- `fulfil_gas`: the contract alone, with an EOA requester (the callback is an empty call), first
  fulfilment (every node's first credit) and warm, for a report of exactly a quorum and one of
  every node; the transmitter's reimbursement next to its receipt's gas, how many nodes were
  paid, and the share of the fee (at `estimateFee`) that reached the nodes. The anchor: Chainlink
  Functions bills 185k gas of overhead per fulfilment.

    .venv/bin/python benchmarks/oracle_round.py [--vllm-url URL] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import emit  # noqa: E402

from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402

from eth_abi import encode  # noqa: E402
from web3.logs import DISCARD  # noqa: E402

from concilium.chain.abi import artifact  # noqa: E402
from concilium.chain.client import ChainClient  # noqa: E402
from concilium.chain.deploy import deploy  # noqa: E402
from concilium.chain.wallets import dev_wallet  # noqa: E402
from concilium.llm.client import ModelClient  # noqa: E402
from concilium.oracle.client import OracleClient  # noqa: E402
from concilium.oracle.kinds import Kind, answer_schema, encode_options, prompt_messages  # noqa: E402
from concilium.oracle.network import LocalOracleNetwork, node_wallet  # noqa: E402
from concilium.oracle.params import LOCAL_PARAMS, fault_tolerance  # noqa: E402
from concilium.oracle.admin import stake_node  # noqa: E402
from concilium.oracle.signing import Domain, RequestTerms, fulfil_report, sign_answer  # noqa: E402
from concilium.runtime import model_client  # noqa: E402
from concilium.spec import ModelSpec  # noqa: E402
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


async def run_network(rpc: str, model: ModelClient, state: Path, n: int, rounds: int) -> dict:
    net = await (await LocalOracleNetwork.deploy(rpc, model, state / f"net{n}", n=n, backoff=1.0)).start()
    chain = ChainClient([rpc])
    client = OracleClient(chain, net.oracle, dev_wallet(2))
    out = {}
    try:
        for kind, (prompt, labels) in QUESTIONS.items():
            latencies, gas, reported, paid, alone = [], [], [], [], []
            for _ in range(rounds):
                alone.append(await model_time(model, kind))
                req = await client.request(prompt, kind, labels=labels)  # the fee: estimateFee
                t0 = time.perf_counter()
                r = await req.result(300, poll=0.02)
                latencies.append(time.perf_counter() - t0)
                gas.append(r.gas_used)
                reported.append(len(r.reported))
                paid.append(len(r.signers))
            out[kind] = {
                "round_latency_s_median": round(statistics.median(latencies), 3),
                "one_node_model_time_s_median": round(statistics.median(alone), 3),
                "latency_over_model_time": round(statistics.median(latencies) / statistics.median(alone), 2),
                "fulfill_gas_first_round": gas[0],
                "fulfill_gas_steady_state": statistics.median(gas[1:]) if rounds > 1 else None,
                "nodes_reported": reported,
                "nodes_paid": paid,
            }
    finally:
        await net.stop()
        await chain.close()
    return out



GAS_PRICE_BOUND = 2 * 10**9  # wei: the requests' reimbursement bound
CHAINLINK_FUNCTIONS_OVERHEAD = 185_000  # gas Chainlink Functions bills per fulfilment


async def fulfil_gas(rpc: str, n: int, entries: int | None = None) -> dict:
    """Gas of `fulfill` (an EOA requester, so the callback is an empty call), first (fresh oracle)
    and warm, with `entries` nodes in the report (default: exactly a quorum); the transmitter's
    reimbursement next to its receipt's gas, and where the fee went."""
    chain = ChainClient([rpc])
    try:
        f, quorum = fault_tolerance(n)
        entries = entries or quorum
        wallets = [node_wallet(i) for i in range(n)]
        oracle = await deploy(chain, dev_wallet(0), "AgentOracle", [w.address for w in wallets], LOCAL_PARAMS.as_tuple(),
                              10**17, LOCAL_PARAMS.max_timeout)
        contract = chain.contract(oracle, artifact("AgentOracle")["abi"])
        for w in wallets:
            await chain.w3.provider.make_request("anvil_setBalance", [w.address, hex(10**18)])
            await stake_node(chain, w, oracle)
        chain_id = await chain.chain_id()
        signers = sorted(wallets[:entries], key=lambda w: int(w.address, 16))
        value, model_id, rounds = encode(["bool"], [True]), bytes(32), []
        for _ in range(2):
            fee = int(await contract.functions.estimateFee(0, 0, GAS_PRICE_BOUND).call())
            data = contract.encode_abi("requestPinned", args=["Is 7 a prime number?", 0, b"", 0, bytes(32), 0, GAS_PRICE_BOUND, 0])
            receipt = await chain.transact(dev_wallet(2), {"to": oracle, "data": data, "value": fee})
            [event] = contract.events.Requested().process_receipt(receipt, errors=DISCARD)
            rid = int(event["args"]["requestId"])
            commitment = RequestTerms.from_event(event["args"]).commitment()
            answers = fulfil_report(sign_answer(w, Domain(chain_id, oracle), rid, commitment, value, model_id) for w in signers)
            done = await chain.transact(dev_wallet(3), {"to": oracle, "data": contract.encode_abi("fulfill", args=[rid, answers])})
            [ev] = contract.events.Fulfilled().process_receipt(done, errors=DISCARD)
            price = int(done["effectiveGasPrice"])
            reimbursement, share = int(ev["args"]["reimbursement"]), int(ev["args"]["share"])
            rounds.append({"gas": int(done["gasUsed"]), "fee_wei": fee, "reimbursement_wei": reimbursement,
                           "reimbursed_over_receipt_gas": round(reimbursement / price / int(done["gasUsed"]), 3),
                           "nodes_paid": bin(int(ev["args"]["paid"])).count("1"), "share_per_node_wei": share,
                           "fee_share_to_nodes": round((fee - reimbursement) / fee, 3)})
        return {"entries": entries, "first": rounds[0]["gas"], "warm": rounds[1]["gas"], "economics_warm": rounds[1],
                "warm_over_chainlink_functions_overhead": round(rounds[1]["gas"] / CHAINLINK_FUNCTIONS_OVERHEAD, 3)}
    finally:
        await chain.close()


async def main(vllm_url: str | None, rounds: int) -> dict:
    state = Path(tempfile.mkdtemp(prefix="concilium-oracle-bench-"))
    stack = EmbeddedStack(state, progress=lambda m: print(m, file=sys.stderr))
    if vllm_url:
        stack.attach("bundled", vllm_url, BUNDLED_NAME)
    try:
        rpc = (await stack.chain()).url
        result: dict = {"benchmark": "oracle_round", "model": BUNDLED_NAME, "rounds_per_kind": rounds,
                        "chainlink_functions_overhead_gas": CHAINLINK_FUNCTIONS_OVERHEAD, "fulfil_gas": {}}
        for n in (4, 7):
            result["fulfil_gas"][f"{n}_nodes"] = {"quorum": await fulfil_gas(rpc, n),
                                                  "all_nodes": await fulfil_gas(rpc, n, entries=n)}
        model = await model_client(ModelSpec(serve="bundled"), stack, "bundled")
        await model_time(model, "bool")  # warm-up: schema compilation
        for n in (4, 7):
            f, q = fault_tolerance(n)
            result[f"{n}_nodes_f{f}_quorum{q}"] = await run_network(rpc, model, state, n, rounds)
    finally:
        stack.stop()
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--vllm-url", default=os.environ.get("CONCILIUM_BENCH_VLLM_URL"))
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    emit("oracle_round", main(a.vllm_url, a.rounds))
