"""Oracle round performance on the real stack, this branch's protocol next to main's in the
same run. Prints JSON:

- per network (4 nodes, f=1, quorum 3; 7 nodes, f=2, quorum 5) and per answer kind: round
  latency from the request's receipt to the fulfil's receipt, next to one node's model time for
  the same question measured alone (ratio = what the protocol adds on top of thinking once), and
  the gas of each `fulfill` the nodes sent (first round and steady state);
- `fulfil_gas`: the contract alone, with an EOA requester (the callback is an empty call), first
  fulfilment (every signer's first credit) and warm, for this branch's AgentOracle (a report of
  exactly a quorum, and one of every node) and main's (its artifact from `git show main:...`,
  signed its way); for this branch also the transmitter's reimbursement next to its receipt's
  gas, how many nodes were paid, and the share of the fee that reached the nodes;
- `main`: main's own benchmark run from /work/main's checkout (`--main-dir`), when present.
The goal: <= 120k gas for 3 signatures, first fulfilment included. The anchor: Chainlink
Functions bills 185k gas of overhead per fulfilment.

    .venv/bin/python benchmarks/oracle_round.py [--vllm-url URL] [--rounds 3] [--main-dir /work/main]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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
from eth_utils import keccak, to_checksum_address  # noqa: E402
from web3.logs import DISCARD  # noqa: E402

from concilium.chain.abi import artifact  # noqa: E402
from concilium.chain.client import ChainClient  # noqa: E402
from concilium.chain.wallets import dev_wallet  # noqa: E402
from concilium.llm.client import ModelClient  # noqa: E402
from concilium.oracle.client import OracleClient  # noqa: E402
from concilium.oracle.kinds import Kind, answer_schema, encode_options, prompt_messages  # noqa: E402
from concilium.oracle.network import LocalOracleNetwork, node_wallet  # noqa: E402
from concilium.oracle.params import LOCAL_PARAMS, fault_tolerance  # noqa: E402
from concilium.oracle.admin import stake_node  # noqa: E402
from concilium.oracle.signing import Domain, RequestTerms, fulfil_report, sign_answer  # noqa: E402
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
            latencies, gas, signers, alone = [], [], [], []
            for _ in range(rounds):
                alone.append(await model_time(model, kind))
                req = await client.request(prompt, kind, labels=labels)  # the fee: estimateFee
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


async def _deploy(chain: ChainClient, art: dict, *args) -> str:
    factory = chain.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = await chain.transact(dev_wallet(0), {"data": factory.constructor(*args).data_in_transaction}, "deploying")
    return receipt["contractAddress"]


def _main_digest(chain_id: int, oracle: str, commitment: bytes, value: bytes, model_id: bytes) -> bytes:
    """main's EIP-712 Answer(bytes32 commitment,bytes32 answerHash,bytes32 modelId), version 2."""
    domain = keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"], [
        keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
        keccak(text="AgentOracle"), keccak(text="2"), chain_id, to_checksum_address(oracle)]))
    struct = keccak(encode(["bytes32", "bytes32", "bytes32", "bytes32"], [
        keccak(text="Answer(bytes32 commitment,bytes32 answerHash,bytes32 modelId)"), commitment, keccak(value), model_id]))
    return keccak(b"\x19\x01" + domain + struct)


GAS_PRICE_BOUND = 2 * 10**9  # wei: the requests' reimbursement bound


async def fulfil_gas(rpc: str, art: dict, n: int, ours: bool, entries: int | None = None) -> dict:
    """Gas of `fulfill` (an EOA requester, so the callback is an empty call), first (fresh oracle) and
    warm, with `entries` nodes in the report (default: exactly a quorum). For this branch also the
    transmitter's reimbursement (in gas at its price, and next to its receipt) and where the fee went."""
    chain = ChainClient([rpc])
    try:
        f, quorum = fault_tolerance(n)
        entries = entries or quorum
        wallets = [node_wallet(i) for i in range(n)]
        args = [[w.address for w in wallets]]
        args += [LOCAL_PARAMS.as_tuple(), 10**17, LOCAL_PARAMS.max_timeout] if ours else [LOCAL_PARAMS.as_tuple()[:7]]
        oracle = await _deploy(chain, art, *args)
        contract = chain.contract(oracle, art["abi"])
        if ours:
            for w in wallets:
                await chain.w3.provider.make_request("anvil_setBalance", [w.address, hex(10**18)])
                await stake_node(chain, w, oracle)
        chain_id = await chain.chain_id()
        signers = sorted(wallets[:entries], key=lambda w: int(w.address, 16))
        value, model_id, rounds = encode(["bool"], [True]), bytes(32), []
        for _ in range(2):
            if ours:
                fee = int(await contract.functions.estimateFee(0, 0, GAS_PRICE_BOUND).call())
                data = contract.encode_abi("requestPinned", args=["Is 7 a prime number?", 0, b"", 0, bytes(32), 0, GAS_PRICE_BOUND])
            else:
                fee, data = 10**15, contract.encode_abi("request", args=["Is 7 a prime number?", 0, b"", 0])
            receipt = await chain.transact(dev_wallet(2), {"to": oracle, "data": data, "value": fee})
            [event] = contract.events.Requested().process_receipt(receipt, errors=DISCARD)
            rid = int(event["args"]["requestId"])
            commitment = RequestTerms.from_event(event["args"]).commitment()
            if ours:
                answers = fulfil_report(sign_answer(w, Domain(chain_id, oracle), rid, commitment, value, model_id) for w in signers)
            else:
                answers = []
                for w in signers:
                    sig = w.unsafe_sign_hash(_main_digest(chain_id, oracle, commitment, value, model_id))
                    answers.append((value, model_id, sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v])))
            done = await chain.transact(dev_wallet(3), {"to": oracle, "data": contract.encode_abi("fulfill", args=[rid, answers])})
            row = {"gas": int(done["gasUsed"])}
            if ours:
                [ev] = contract.events.Fulfilled().process_receipt(done, errors=DISCARD)
                price = int(done["effectiveGasPrice"])
                paid = bin(int(ev["args"]["paid"])).count("1")
                reimbursement, share = int(ev["args"]["reimbursement"]), int(ev["args"]["share"])
                row.update(fee_wei=fee, reimbursement_wei=reimbursement, reimbursed_gas=reimbursement // price,
                           reimbursed_over_receipt_gas=round(reimbursement / price / int(done["gasUsed"]), 3),
                           nodes_paid=paid, share_wei=share, fee_share_to_nodes=round((fee - reimbursement) / fee, 3))
            rounds.append(row)
        return {"entries": entries, "first": rounds[0]["gas"], "warm": rounds[1]["gas"],
                **({"economics_warm": rounds[1]} if ours else {})}
    finally:
        await chain.close()


def main_artifact() -> dict:
    text = subprocess.run(["git", "show", "main:concilium/artifacts/AgentOracle.json"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    return json.loads(text)


def main_benchmark(main_dir: Path, vllm_url: str | None, rounds: int) -> dict | None:
    """main's own round benchmark, run from its checkout (its code, its contract)."""
    script = main_dir / "benchmarks" / "oracle_round.py"
    if not script.exists():
        return None
    cmd = [sys.executable, str(script), "--rounds", str(rounds)] + (["--vllm-url", vllm_url] if vllm_url else [])
    r = subprocess.run(cmd, cwd=main_dir, env={**os.environ, "PYTHONPATH": str(main_dir)}, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout)


async def main(vllm_url: str | None, rounds: int, main_dir: Path | None) -> dict:
    state = Path(tempfile.mkdtemp(prefix="concilium-oracle-bench-"))
    stack = EmbeddedStack(state, progress=lambda m: print(m, file=sys.stderr))
    if vllm_url:
        stack.attach("bundled", vllm_url, BUNDLED_NAME)
    try:
        rpc = (await stack.chain()).url
        result: dict = {"benchmark": "oracle_round", "model": BUNDLED_NAME, "rounds_per_kind": rounds,
                        "chainlink_functions_overhead_gas": 185_000, "goal_gas_3_signatures": 120_000, "fulfil_gas": {}}
        ours, theirs = artifact("AgentOracle"), main_artifact()
        for n in (4, 7):
            mine, base = await fulfil_gas(rpc, ours, n, True), await fulfil_gas(rpc, theirs, n, False)
            every = await fulfil_gas(rpc, ours, n, True, entries=n)  # every node committed and is paid
            result["fulfil_gas"][f"{n}_nodes"] = {"this_branch_quorum": mine, "this_branch_all_nodes": every, "main": base,
                                                  "first_ratio_to_main": round(mine["first"] / base["first"], 3),
                                                  "warm_ratio_to_main": round(mine["warm"] / base["warm"], 3)}
        server, digest = await stack.model("bundled")
        model = ModelClient(server.url, server.served_name, weights_digest=digest)
        await model_time(model, "bool")  # warm-up: schema compilation
        for n in (4, 7):
            f, q = fault_tolerance(n)
            result[f"{n}_nodes_f{f}_quorum{q}"] = await run_network(rpc, model, state, n, rounds)
    finally:
        stack.stop()
    if main_dir is not None:
        result["main"] = main_benchmark(main_dir, vllm_url, rounds)
        if result["main"] and "error" not in result["main"]:
            for n, key_main in ((4, "quorum_3_of_4"), (7, "quorum_5_of_7")):
                f, q = fault_tolerance(n)
                ours_n, main_n = result[f"{n}_nodes_f{f}_quorum{q}"], result["main"].get(key_main, {})
                result[f"{n}_nodes_latency_ratio_to_main"] = {
                    k: round(ours_n[k]["round_latency_s_median"] / main_n[k]["round_latency_s_median"], 2)
                    for k in ours_n if k in main_n}
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--vllm-url", default=os.environ.get("CONCILIUM_BENCH_VLLM_URL"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--main-dir", type=Path, default=Path("/work/main"), help="a checkout of main to run its benchmark from")
    a = ap.parse_args()
    emit("oracle_round", main(a.vllm_url, a.rounds, a.main_dir if a.main_dir.exists() else None))
