"""Committee performance on the real stack. Prints JSON.

- gas of `execTransaction` on a 4-member, threshold-3 Safe (the audited Safe 1.4.1 bytecode) with
  CommitteeGuard installed, next to the same Safe without a guard in the same run (ratio = what the
  guard adds). Both Safes are past nonce 0, so the nonce write costs the same. Shown for the first
  ETH transfer of a UTC day (the guard's day ledger slot goes from zero), a later one the same day,
  and an ERC-20 transfer;
- the Safe part of a round: from an agreed action to its receipt (3 members sign the SafeTx
  digest, signatures recovered and packed, execTransaction dry-run, sent, mined), next to one
  account sending the same transfer itself in the same run (median, p95, ratio);
- committee round latency: 4 members (LocalCommittee: own key, chain client, store, signed peer
  endpoint each; one shared vLLM server) from tick to a terminal state (commit, reveal,
  canonicalise, own guard, sign, exchange, execTransaction mined), next to one agent's step with
  the same spec in the same run (median, p95, ratio); once with every member asking the bundled
  model, once with injected decisions (the protocol alone, vs the agent's `propose`).

    .venv/bin/python benchmarks/committee_round.py [--rounds 10] [--vllm-url URL]
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

from eth_account import Account  # noqa: E402
from eth_utils import keccak  # noqa: E402

from concilium.chain.abi import ERC20_ABI  # noqa: E402
from concilium.chain.client import ChainClient  # noqa: E402
from concilium.chain.deploy import deploy  # noqa: E402
from concilium.chain.wallets import Wallet, dev_wallet  # noqa: E402
from concilium.committee.deploy import create_safe, deploy_committee_safe, deploy_singletons  # noqa: E402
from concilium.committee.guard import GuardConfig  # noqa: E402
from concilium.committee.safe import Safe  # noqa: E402
from concilium.committee.signatures import sign  # noqa: E402
from concilium.committee.network import LocalCommittee  # noqa: E402
from concilium.llm.decisions import Decision  # noqa: E402
from concilium.runtime import Runtime  # noqa: E402
from concilium.spec import parse_spec  # noqa: E402
from concilium.stack.embedded import EmbeddedStack  # noqa: E402
from concilium.stack.model import BUNDLED_NAME  # noqa: E402

ETH = 10**18
MEMBERS = [Wallet(f"m{i}", Account.from_key(keccak(text=f"bench member {i}"))) for i in range(4)]
RECIPIENT = dev_wallet(1).address


async def exec_gas(safe: Safe, submitter: Wallet, to: str, value: int = 0, data: bytes = b"") -> int:
    tx = await safe.build(to, value=value, data=data)
    digest = await safe.digest(tx)
    return (await safe.execute(tx, [sign(m, digest) for m in MEMBERS[:3]], submitter)).gas_used


def _summary(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"median_ms": round(statistics.median(xs) * 1000, 2), "p95_ms": round(xs[int(0.95 * (len(xs) - 1))] * 1000, 2)}


async def latency(chain: ChainClient, safe: Safe, single: Wallet, rounds: int = 30) -> dict:
    committee, alone = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        await exec_gas(safe, single, RECIPIENT, value=10**15)
        committee.append(time.perf_counter() - t)
        t = time.perf_counter()
        await chain.transact(single, {"to": RECIPIENT, "value": 10**15})
        alone.append(time.perf_counter() - t)
    c, a = _summary(committee), _summary(alone)
    return {"rounds": rounds, "safe_execution": c, "single_account_transfer": a,
            "ratio_median": round(c["median_ms"] / a["median_ms"], 2)}


async def measure(rpc: str) -> dict:
    chain = ChainClient([rpc])
    deployer = dev_wallet(0)
    try:
        token = await deploy(chain, deployer, "DemoToken", "USD Coin", "USDC", 10**30)
        usdc = chain.contract(token, ERC20_ABI)
        config = GuardConfig(recipients=[RECIPIENT], token_limits={token: 10**6 * ETH}, eth_per_day=50 * ETH)
        singletons = await deploy_singletons(chain, deployer)
        guarded = (await deploy_committee_safe(chain, deployer, MEMBERS, 3, config, singletons)).safe
        bare = await create_safe(chain, deployer, singletons, [m.address for m in MEMBERS], 3)
        for safe in (guarded, bare):
            await chain.w3.provider.make_request("anvil_setBalance", [safe.address, hex(100 * ETH)])
            await chain.transact(deployer, {"to": token, "data": usdc.encode_abi("transfer", args=[safe.address, 10**6 * ETH])})
        # same storage costs on both sides: the recipient already holds the token, the bare Safe is
        # past nonce 0 like the guarded one after setGuard
        await chain.transact(deployer, {"to": token, "data": usdc.encode_abi("transfer", args=[RECIPIENT, 1])})
        await exec_gas(bare, deployer, RECIPIENT)
        transfer = bytes.fromhex(usdc.encode_abi("transfer", args=[RECIPIENT, ETH])[2:])
        rows = {}
        for name, kw in (("eth_transfer_first_of_day", {"value": ETH}), ("eth_transfer_later_same_day", {"value": ETH}),
                         ("erc20_transfer_first_of_day", {"to": token, "data": transfer})):
            gas = {}
            for label, safe in (("with_guard", guarded), ("without_guard", bare)):
                gas[label] = await exec_gas(safe, deployer, **{"to": RECIPIENT, **kw})
            rows[name] = {**gas, "guard_overhead": gas["with_guard"] - gas["without_guard"],
                          "ratio": round(gas["with_guard"] / gas["without_guard"], 3)}
        rows_latency = await latency(chain, guarded, deployer)
        return {"gas": rows, "latency": rows_latency}
    finally:
        await chain.close()


SPEC = """
version: 1
models: {local: {serve: bundled}}
chains: {dev: {rpc: embedded}}
wallets: {treasury: {dev_account: 0}, hot: {dev_account: 1}, m1: {dev_account: 2}, m2: {dev_account: 3},
          m3: {dev_account: 4}, m4: {dev_account: 5}}
addresses: {hot_wallet: {wallet: hot}}
agents:
  - name: keeper
    model: local
    chain: dev
    wallet: treasury
    instructions: Keep the hot wallet above 5 ETH; when it is below, send 1.5 ETH to hot_wallet. Otherwise do nothing.
    observe: [{balance: hot_wallet}]
    tools: [send_native]
    policy: {recipients: [hot_wallet], max_value_per_tx: 2 ether}
committees:
  - name: council
    agent: keeper
    members:
%s
    threshold: 3
    schedule: 6s
    phase_timeout: 1.9s
    submit_backoff: 3s
    onchain_limits: {ETH: {per_day: 1000}}
""" % "\n".join(f'      - {{name: m{i}, key: m{i}, model: local, url: "http://127.0.0.1:{i}"}}' for i in range(1, 5))
TOP_UP = Decision(action="send_native", args={"to": "hot_wallet", "amount": 1.5}, reason="bench")


async def round_latency(stack: EmbeddedStack, rpc: str, tmp: Path, rounds: int) -> dict:
    spec = parse_spec(SPEC, base_dir=tmp)
    out = {}
    async with Runtime.open(spec, stack=stack, state_dir=tmp / "single") as rt:
        agent, model = rt.agents["keeper"], rt.models["local"]
        chain = rt.chains["dev"]
        wallets = {n: dev_wallet(w.dev_account, n) for n, w in spec.wallets.items()}
        net = await LocalCommittee.deploy(spec, "council", rpc, wallets, dev_wallet(9), tmp / "committee")
        await chain.w3.provider.make_request("anvil_setBalance", [net.safe, hex(10**6 * ETH)])
        hot = wallets["hot"].address
        for mode in ("model", "injected"):
            await net.start(models={"local": model}, decisions=None if mode == "model" else {f"m{i}": (lambda rid: TOP_UP) for i in range(1, 5)})
            committee, single, states = [], [], {}
            for _ in range(rounds):
                await chain.w3.provider.make_request("anvil_setBalance", [hot, hex(ETH)])  # a top-up is due
                await asyncio.sleep(6 - time.time() % 6)  # one round per slot, as members' ticks run them
                t = time.perf_counter()
                results = await net.round()
                committee.append(time.perf_counter() - t)
                for r in results:
                    states[str(r.state) if r else "crashed"] = states.get(str(r.state) if r else "crashed", 0) + 1
                await chain.w3.provider.make_request("anvil_setBalance", [hot, hex(ETH)])
                t = time.perf_counter()
                await (agent.step() if mode == "model" else agent.propose(TOP_UP))
                single.append(time.perf_counter() - t)
            await net.stop()
            c, a = _summary(committee), _summary(single)
            out[mode] = {"rounds": rounds, "committee_round": c, "single_agent_step": a, "member_round_states": states,
                         "ratio_median": round(c["median_ms"] / a["median_ms"], 2)}
    return out


async def main(rounds: int, vllm_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack = EmbeddedStack(Path(tmp), progress=lambda m: print(m, file=sys.stderr))
        if vllm_url:
            stack.attach("bundled", vllm_url, BUNDLED_NAME)
        try:
            rpc = (await stack.chain()).url
            measured = await measure(rpc)
            latency_rows = await round_latency(stack, rpc, Path(tmp), rounds)
        finally:
            stack.stop()
    print(json.dumps({
        "safe": "@safe-global/safe-contracts 1.4.1 SafeL2 (npm bytecode)",
        "members": 4, "threshold": 3,
        "exec_transaction_gas": measured["gas"],
        "agreed_action_to_receipt": measured["latency"],
        "round_latency": latency_rows,
    }, indent=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--vllm-url", default=os.environ.get("CONCILIUM_BENCH_VLLM_URL"))
    args = ap.parse_args()
    asyncio.run(main(args.rounds, args.vllm_url))
