"""The trail on the real stack: from a transaction, a refused decision or an oracle request to
everything that produced it, and a recorded decision asked again of its model.

Written as the reader who distrusts the record: the model id must hash from the preimage shown
beside it, and an output edited in the store after the fact must replay as "different".
"""

import asyncio
import json
import sqlite3

from concilium.chain.wallets import dev_wallet
from concilium.llm.client import ModelClient
from concilium.llm.provenance import derive_weights_digest, describe, model_id_of
from concilium.oracle.client import OracleClient
from concilium.oracle.network import LocalOracleNetwork
from concilium.runtime import Runtime
from concilium.stack.model import BUNDLED_NAME
from tests.conftest import HOT, deploy_token, keeper_yaml, set_balance, spec_from
from tests.test_cli import concilium

REFUSE_ALL = """  # every send is refused, zero-amount ones too (by the gas price cap)
      recipients: [hot_wallet]
      max_value_per_tx: 0.000001 ether
      max_value_per_day: 0.000001 ether
      token_limits: {usdc: {per_tx: 0.000001, per_day: 0.000001}}
      max_gas_price: 0.000001 gwei
    """


def trace_json(query: str, *dirs) -> list[dict]:
    args = [a for d in dirs for a in ("--state-dir", str(d))]
    r = concilium("trace", query, *args, "--json")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return json.loads(r.stdout)


def assert_model_preimage_hashes_to_id(model: dict) -> None:
    pre = model["preimage"]
    assert pre is not None, model
    assert model_id_of(pre) == model["model_id"]  # the shown preimage really is what the id hashes
    assert model["engine"].startswith("vllm ")
    assert set(model["sampling"]) >= {"temperature", "seed", "max_tokens"}
    # a vLLM on this machine serving a local directory: the digest is derived, not "unknown"
    assert len(model["weights_digest"]) == 64 and int(model["weights_digest"], 16) >= 0


async def model_steps(stack, chain, tmp_path, policy: str, want: set[str]):
    """Step the keeper with sampled seeds until a step ends in one of `want`; yield the state dir."""
    token = await deploy_token(chain)
    for seed in range(8):
        await set_balance(chain, HOT, 10**18)
        text = keeper_yaml(token, policy=policy).replace("local: {serve: bundled}", f"local: {{serve: bundled, temperature: 0.7, seed: {seed}}}")
        state = tmp_path / f"s{seed}"
        async with Runtime.open(spec_from(text), stack=stack, state_dir=state) as rt:
            r = await rt.agents["treasury-keeper"].step()
        if r.status in want:
            return state, r
    raise AssertionError(f"in eight sampled steps the model never reached {want}")


async def test_trace_of_an_agent_transaction_shows_model_prompt_output_and_receipt(stack, vllm, chain, tmp_path):
    state, r = await model_steps(stack, chain, tmp_path, "", {"confirmed"})
    [t] = trace_json(r.tx_hash, state)
    assert t["what"] == "agent decision" and t["decision_id"] == r.id and t["agent"] == "treasury-keeper"
    assert t["model"]["model_id"] == r.model_id and t["model"]["name"] == BUNDLED_NAME
    assert_model_preimage_hashes_to_id(t["model"])
    assert t["prompt"] == r.prompt and "Observation (untrusted data)" in t["prompt"]
    assert [m["role"] for m in t["messages"]] == ["system", "user"]
    assert t["raw_output"] == r.output and json.loads(t["raw_output"])["action"] == t["decision"]["action"]
    assert t["guard"]["verdict"] == "allowed"
    signed = t["transaction"]["signed"]
    assert t["transaction"]["hash"] == r.tx_hash and signed["from"] == r.sender
    receipt = await chain.w3.eth.get_transaction_receipt(r.tx_hash)
    assert t["receipt"]["block_number"] == receipt["blockNumber"] and t["receipt"]["gas_used"] == receipt["gasUsed"]
    tx = await chain.w3.eth.get_transaction(r.tx_hash)
    assert signed["to"].lower() == tx["to"].lower() and signed["value"] == tx["value"] and signed["nonce"] == tx["nonce"]
    # the human view and the live chain view work too
    text = concilium("trace", r.tx_hash, "--state-dir", str(state), "--rpc", stack._anvil.url)
    assert text.returncode == 0, text.stderr
    assert "weights digest" in text.stdout and r.model_id in text.stdout and "on chain now" in text.stdout


async def test_trace_of_a_refused_decision_shows_the_verdict_and_sends_nothing(stack, vllm, chain, tmp_path):
    state, r = await model_steps(stack, chain, tmp_path, REFUSE_ALL, {"refused"})
    [t] = trace_json(r.id, state)
    assert t["status"] == "refused" and t["guard"]["verdict"] == "refused"
    assert t["guard"]["rule"] == r.rule and t["guard"]["reason"] == r.verdict
    assert t["transaction"] is None and t["receipt"] is None
    assert t["raw_output"] == r.output and t["prompt"] == r.prompt
    assert_model_preimage_hashes_to_id(t["model"])


async def test_trace_of_an_oracle_round_shows_every_node(anvil, vllm, chain, tmp_path):
    net = await LocalOracleNetwork.deploy(anvil.url, ModelClient(vllm.url, BUNDLED_NAME), tmp_path / "oracle", n=4, backoff=1.0)
    await net.start()
    try:
        req = await OracleClient(chain, net.oracle, dev_wallet(2)).request("Is 7 a prime number?", "bool", fee=3 * 10**15)
        result = await req.result(120)
        for _ in range(120):  # every node's watcher records the Fulfilled event (a block or two later)
            rounds = [await n.store.get(n._key(req.request_id)) for n in net.nodes]
            if all(r is not None and r.fulfil_tx for r in rounds):
                break
            await asyncio.sleep(0.5)
    finally:
        await net.stop()
    entries = trace_json(str(req.request_id), tmp_path)
    assert {e["node"] for e in entries} == {n.address for n in net.nodes}
    for e in entries:
        assert e["what"] == "oracle round" and e["question"] == "Is 7 a prime number?" and e["kind"] == "bool"
    # a node that saw the fulfilment before it evaluated has no output of its own; every other
    # shows its model, prompt and raw output
    answered = [e for e in entries if e["raw_output"]]
    assert len(answered) >= 3
    for e in answered:
        assert json.loads(e["raw_output"])["answer"] in (True, False)
        assert_model_preimage_hashes_to_id(e["model"])
        assert [m["role"] for m in e["messages"]] == ["system", "user"]
    signers = {e["node"] for e in entries if e["answer"]} & set(result.signers)
    assert len(signers) >= 3
    fulfil = {e["transaction"]["fulfil_tx"] for e in entries} - {None}
    assert len(fulfil) == 1
    # the fulfil transaction leads back to the same rounds
    by_tx = trace_json(fulfil.pop(), tmp_path)
    assert {e["request_id"] for e in by_tx} == {req.request_id} and len(by_tx) == len(entries)


async def test_replay_of_a_recorded_decision_and_of_one_edited_after_the_fact(stack, vllm, chain, tmp_path):
    await set_balance(chain, HOT, 10**18)
    async with Runtime.open(spec_from(keeper_yaml(await deploy_token(chain))), stack=stack, state_dir=tmp_path) as rt:
        r = await rt.agents["treasury-keeper"].step()
    assert json.loads(r.sampling)["temperature"] == 0
    ok = concilium("replay", r.id, "--state-dir", str(tmp_path), "--model-url", vllm.url, "--json")
    assert "Traceback" not in ok.stderr
    res = json.loads(ok.stdout)
    assert res["same_model"] and res["recorded"] == r.output
    assert res["identical"] and ok.returncode == 0 and res["diff"] == "", res["diff"]
    # someone rewrites the record to claim the model chose another action
    forged = json.dumps({**json.loads(r.output), "reason": "the model never said this"})
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("update steps set output = ? where id = ?", (forged, r.id))
    bad = concilium("replay", r.id, "--state-dir", str(tmp_path), "--model-url", vllm.url)
    assert bad.returncode == 1 and "different" in bad.stdout and "the model never said this" in bad.stdout


async def test_weights_digest_of_a_remote_server_is_unknown_not_guessed():
    """Nothing is sent to a non-loopback server: its digest cannot be checked from here."""
    assert await derive_weights_digest("http://gpu-box.invalid:8000/v1", BUNDLED_NAME) is None
    client = ModelClient("http://gpu-box.invalid:8000/v1", BUNDLED_NAME)
    client._engine = "vllm 0.32.0"  # as if probed: the engine is what the server reports
    pre = await client.preimage()
    assert describe(pre)["weights_digest"] == "unknown" and describe(pre)["served_name"] == BUNDLED_NAME


def test_trace_and_replay_bad_input_is_one_line(tmp_path):
    for args in (("trace", "not-a-hash", "--state-dir", str(tmp_path)),
                 ("trace", "0x" + "ab" * 32, "--state-dir", str(tmp_path / "missing")),
                 ("trace", "12345", "--state-dir", str(tmp_path)),
                 ("replay", "3f2b8c1e-0000-4000-8000-000000000000", "--state-dir", str(tmp_path), "--model-url", "http://127.0.0.1:9/v1")):
        r = concilium(*args)
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) <= 2, r.stderr
