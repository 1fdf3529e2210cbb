"""The oracle on the real stack: compiled AgentOracle on anvil, 4 nodes (quorum 3) answering
with the bundled model through vLLM. Byzantine nodes are real nodes with one seam overridden
(what they answer, how they sign, whether they speak): faults injected at the node boundary."""

import asyncio
import json
import random
import time

import httpx
import pytest
from eth_abi import encode

from concilium.chain.abi import artifact
from concilium.chain.wallets import dev_wallet
from concilium.llm.client import ModelClient
from concilium.oracle.client import OracleClient, OracleTimeout
from concilium.oracle.kinds import Kind
from concilium.oracle.network import LocalOracleNetwork
from concilium.oracle.node import OracleNode
from concilium.oracle.peers import AnswerMessage
from concilium.oracle.signing import sign_answer
from concilium.stack.model import BUNDLED_NAME

FEE = 3 * 10**15


class RandomAnswers(OracleNode):
    def decide_value(self, kind, raw, options):
        if kind is Kind.BOOL:
            return encode(["bool"], [not raw])  # always the opposite of what its model said
        if kind.numeric:
            return encode(["int256" if kind is Kind.INT else "uint256"], [random.randrange(10**9)])
        if kind is Kind.CHOICE:
            return encode(["uint256"], [random.randrange(3)])
        return encode(["string"], [f"noise {random.random()}"])


class BadSignatures(OracleNode):
    def sign(self, request_id, value, model_id):
        a = super().sign(request_id, value, model_id)
        return type(a)(a.request_id, a.value, a.model_id, bytes([a.signature[0] ^ 1]) + a.signature[1:], a.signer)


class Replays(OracleNode):
    """Sends a correctly signed answer for an older request in place of the current one."""

    def sign(self, request_id, value, model_id):
        a = sign_answer(self.wallet, self.domain, max(1, request_id - 1), value, model_id)
        return type(a)(request_id, a.value, a.model_id, a.signature, a.signer)


class Silent(OracleNode):
    async def _run_round(self, rnd):
        return None

    async def receive(self, a):
        return None


@pytest.fixture
async def model(vllm):
    return ModelClient(vllm.url, BUNDLED_NAME)


async def network(anvil, model, tmp_path, byzantine: dict[int, type] | None = None) -> LocalOracleNetwork:
    net = await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", n=4, quorum=3, backoff=1.0)
    for i, cls in (byzantine or {}).items():
        old = net.nodes[i]
        net.nodes[i] = cls(old.settings, old.wallet, old.chain, old.model, old.store)
    return await net.start()


async def honest_answers(net: LocalOracleNetwork, request_id: int, honest: list[int]) -> set[str]:
    out = set()
    for i in honest:
        rnd = await net.nodes[i].store.get(net.nodes[i]._key(request_id))
        out.add(json.loads(rnd.my_answer)["value"])
    return out


QUESTIONS = [
    ("bool", "Is 7 a prime number?", None),
    ("choice", "What colour is a clear daytime sky?", ["blue", "green", "red"]),
    ("uint", "How many legs does a spider have?", None),
    ("int", "What is 5 minus 12?", None),
    ("text", "What is the capital of France?", None),
]


@pytest.mark.parametrize("kind,prompt,labels", QUESTIONS, ids=[q[0] for q in QUESTIONS])
async def test_each_kind_reaches_quorum_and_pays_the_agreeing_signers(anvil, model, chain, tmp_path, kind, prompt, labels):
    net = await network(anvil, model, tmp_path)
    try:
        client = OracleClient(chain, net.oracle, dev_wallet(2))
        oracle = client.contract
        req = await client.request(prompt, kind, labels=labels, fee=FEE)
        r = await req.result(120)
        assert len(r.signers) >= 3 and len(set(r.signers)) == len(r.signers)
        assert set(r.signers) <= {n.address for n in net.nodes}
        # every signer signed exactly what landed (numeric kinds: the median of what they signed)
        signed = {}
        for n in net.nodes:
            rnd = await n.store.get(n._key(req.request_id))
            if n.address in r.signers:
                signed[n.address] = bytes.fromhex(json.loads(rnd.my_answer)["value"][2:])
        if Kind.parse(kind).numeric:
            values = sorted(int.from_bytes(v, "big", signed=kind == "int") for v in signed.values())
            assert r.value == values[(len(values) - 1) // 2]
        else:
            assert set(signed.values()) == {r.raw}
        credits = [await oracle.functions.credits(s).call() for s in r.signers]
        assert sum(credits) == FEE and max(credits) - min(credits) < len(r.signers)
        for n in net.nodes:
            if n.address not in r.signers:
                assert await oracle.functions.credits(n.address).call() == 0
    finally:
        await net.stop()


@pytest.mark.parametrize("byzantine", [RandomAnswers, BadSignatures, Replays, Silent], ids=lambda c: c.__name__)
async def test_one_byzantine_node_never_changes_the_result(anvil, model, chain, tmp_path, byzantine):
    net = await network(anvil, model, tmp_path, {0: byzantine})
    try:
        client = OracleClient(chain, net.oracle, dev_wallet(2))
        for round_ in range(2):  # two rounds: in the second a replayer has an older request to replay
            req = await client.request("Is 7 a prime number?", "bool", fee=FEE)
            r = await req.result(120)
            honest = await honest_answers(net, req.request_id, [1, 2, 3])
            assert len(honest) == 1 and "0x" + r.raw.hex() in honest
            if byzantine is not Replays or round_ == 1:
                assert net.nodes[0].address not in r.signers
    finally:
        await net.stop()


async def test_two_silent_nodes_mean_no_result_and_the_requester_is_refunded(anvil, model, chain, tmp_path):
    net = await network(anvil, model, tmp_path, {0: Silent, 1: Silent})
    try:
        payer = dev_wallet(2)
        client = OracleClient(chain, net.oracle, payer)
        req = await client.request("Is 7 a prime number?", "bool", fee=FEE, timeout=4)
        with pytest.raises(OracleTimeout):
            await req.result(timeout=6)
        await asyncio.sleep(max(0.0, req.deadline - time.time()) + 1.5)
        before = await chain.w3.eth.get_balance(payer.address)
        receipt = await req.cancel()
        spent = receipt["gasUsed"] * receipt["effectiveGasPrice"]
        assert await chain.w3.eth.get_balance(payer.address) - before == FEE - spent
        for n in net.nodes[2:]:
            rnd = await n.store.get(n._key(req.request_id))
            assert rnd.status in ("answered", "cancelled") and rnd.submit_tx is None
    finally:
        await net.stop()


async def test_a_node_restarted_mid_round_resumes_without_double_submitting(anvil, model, chain, tmp_path):
    net = await network(anvil, model, tmp_path, {3: Silent})  # the quorum needs node 2
    try:
        await net.nodes[2].stop()  # node 2 goes down...
        client = OracleClient(chain, net.oracle, dev_wallet(2))
        req = await client.request("Is 7 a prime number?", "bool", fee=FEE)
        with pytest.raises(OracleTimeout):
            await req.result(timeout=4)  # ...so no quorum while it is down
        await net.restart_node(2)  # ...and comes back on the same key and database
        r = await req.result(120)
        assert net.nodes[2].address in r.signers
        oracle = client.contract
        fulfils = await oracle.events.Fulfilled().get_logs(from_block=req.block, argument_filters={"requestId": req.request_id})
        assert len(fulfils) == 1
        await asyncio.sleep(2.5)  # past every back-off: nobody submits a second time
        for n in net.nodes[:3]:
            rnd = await n.store.get(n._key(req.request_id))
            assert rnd.status == "fulfilled"
        submitters = [n for n in net.nodes[:3] if (await n.store.get(n._key(req.request_id))).submit_tx]
        assert len(submitters) == 1
        await net.restart_node(2)  # a restart after the round: nothing to resume, nothing sent
        await asyncio.sleep(1.0)
        assert len(await oracle.events.Fulfilled().get_logs(from_block=req.block)) == 1
    finally:
        await net.stop()


async def test_a_reverting_consumer_does_not_block_later_requests(anvil, model, chain, tmp_path):
    net = await network(anvil, model, tmp_path)
    try:
        payer = dev_wallet(2)
        from concilium.chain.deploy import deploy

        consumer = chain.contract(await deploy(chain, payer, "ProbeConsumer", net.oracle), artifact("ProbeConsumer")["abi"])
        client = OracleClient(chain, net.oracle, payer)

        async def ask_via_consumer() -> int:
            data = consumer.encode_abi("ask", args=["Is 7 a prime number?", 0, b"", 200_000])
            receipt = await chain.transact(payer, {"to": consumer.address, "data": data, "value": FEE})
            [e] = client.contract.events.Requested().process_receipt(receipt)
            return int(e["args"]["requestId"])

        await chain.transact(payer, {"to": consumer.address, "data": consumer.encode_abi("setMode", args=[1])})  # Revert
        first = await ask_via_consumer()
        for _ in range(600):
            logs = await client.contract.events.Fulfilled().get_logs(from_block=0, argument_filters={"requestId": first})
            if logs:
                break
            await asyncio.sleep(0.1)
        assert logs and logs[0]["args"]["callbackOk"] is False
        await chain.transact(payer, {"to": consumer.address, "data": consumer.encode_abi("setMode", args=[0])})  # Record
        second = await ask_via_consumer()
        for _ in range(600):
            if await consumer.functions.results(second).call():
                break
            await asyncio.sleep(0.1)
        assert len(await consumer.functions.results(second).call()) == 32
    finally:
        await net.stop()


async def test_peer_api_authenticates_by_registered_key(anvil, model, chain, tmp_path):
    net = await network(anvil, model, tmp_path)
    try:
        node = net.nodes[0]
        value, model_id = encode(["bool"], [True]), bytes(32)
        outsider = sign_answer(dev_wallet(7), node.domain, 1, value, model_id)
        member = sign_answer(net.nodes[1].wallet, node.domain, 1, value, model_id)
        forged = type(member)(1, value, model_id, member.signature, outsider.signer)  # claims another's signature
        async with httpx.AsyncClient(base_url=node.url) as http:
            assert (await http.post("/v1/answers", json=AnswerMessage.of(outsider).model_dump())).status_code == 403
            assert (await http.post("/v1/answers", json=AnswerMessage.of(forged).model_dump())).status_code == 401
            bad = await http.post("/v1/answers", json={"request_id": "one", "value": "zz"})
            assert bad.status_code == 422
            assert (await http.post("/v1/answers", json=AnswerMessage.of(member).model_dump())).status_code == 202
            held = (await http.get("/v1/answers/1")).json()
            assert [h["signer"] for h in held] == [net.nodes[1].address]
    finally:
        await net.stop()


async def test_cli_oracle_up_and_ask(vllm, tmp_path):
    """`concilium oracle up` runs a network until SIGTERM; `concilium oracle ask` gets an answer."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    cli = [sys.executable, "-m", "concilium.cli", "oracle"]
    env = {**os.environ, "NO_COLOR": "1"}
    up = subprocess.Popen([*cli, "up", "--nodes", "4", "--state-dir", str(tmp_path), "--model-url", vllm.url],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        network = tmp_path / "network.json"
        for _ in range(600):
            if network.exists() or up.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert network.exists(), up.stderr.read() if up.poll() is not None else "no network.json"
        assert json.loads(network.read_text())["quorum"] == 3
        ask = await asyncio.to_thread(subprocess.run, [*cli, "ask", "Is 7 a prime number?", "--kind", "bool", "--network", str(network)],
                                      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert ask.returncode == 0, ask.stderr
        assert "answer: " in ask.stdout and "signed by 3 node(s)" in ask.stdout and "callback ok: True" in ask.stdout
        bad = await asyncio.to_thread(subprocess.run, [*cli, "ask", "Pick one", "--kind", "choice", "--network", str(network)],
                                      cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert bad.returncode != 0 and "needs its labels" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0


async def test_cli_oracle_node_joins_a_network_from_its_yaml(anvil, vllm, model, chain, tmp_path):
    """One operator's node, run by `concilium oracle node node.yaml` as its own process, with a
    keystore wallet, signs in a quorum beside three in-process nodes (one of them silent)."""
    import os
    import signal
    import subprocess
    import sys

    from eth_account import Account

    from concilium.oracle.network import node_wallet
    from tests.conftest import ROOT

    cli = [sys.executable, "-m", "concilium.cli", "oracle", "node"]
    env = {**os.environ, "NODE_PW": "pw"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nchain: {rpc: embedded}\n")
    r = await asyncio.to_thread(subprocess.run, [*cli, str(bad)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    for key_ in ("oracle", "model", "wallet"):
        assert f"{key_}: required key is missing" in r.stderr

    net = await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", n=4, quorum=3, backoff=1.0)
    operator = net.nodes.pop(3)  # this one runs from YAML, in its own process
    await operator.chain.close()
    await operator.store.close()
    old = net.nodes[0]
    net.nodes[0] = Silent(old.settings, old.wallet, old.chain, old.model, old.store)
    await net.start()
    key = tmp_path / "node.json"
    key.write_text(json.dumps(Account.encrypt(node_wallet(3)._account.key, "pw", kdf="pbkdf2", iterations=1000)))
    spec = tmp_path / "node.yaml"
    spec.write_text(json.dumps({  # JSON is YAML
        "version": 1, "oracle": net.oracle, "chain": {"rpc": anvil.url},
        "model": {"url": vllm.url, "name": BUNDLED_NAME},
        "wallet": {"keystore": str(key), "password_env": "NODE_PW"},
        "listen": {"port": operator.settings.port}, "peers": [n.url for n in net.nodes],
        "backoff": "1s", "start_block": operator.settings.start_block, "state_dir": str(tmp_path / "node3")}))
    proc = subprocess.Popen([*cli, str(spec)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{operator.url}/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        client = OracleClient(chain, net.oracle, dev_wallet(2))
        req = await client.request("Is 7 a prime number?", "bool", fee=FEE)
        r = await req.result(120)
        assert node_wallet(3).address in r.signers and net.nodes[0].address not in r.signers
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()[-2000:]
        await net.stop()
