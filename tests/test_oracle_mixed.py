"""Incentives on the real stack with two model families: SmolLM2 and Gemma 3 270M, each on its own
vLLM server, nodes alternating between them. Written as the attacks: a lazy node that copies
revealed answers instead of running a model, a node that signs two different answers.

These need the contract half of the incentives issue (commit-reveal report, stake, slash); they
skip, naming why, while the compiled AgentOracle has none (the node half lands first)."""

import asyncio
import json
import os

import pytest

from concilium.chain.abi import artifact
from concilium.chain.wallets import dev_wallet
from concilium.llm.client import ModelClient
from concilium.llm.provenance import model_id_of
from concilium.oracle.client import OracleClient
from concilium.oracle.network import LocalOracleNetwork
from concilium.oracle.node import OracleNode
from concilium.stack.bundled import REGISTRY
from concilium.stack.model import BUNDLED_NAME
from concilium.trail import round_trail

FEE = 3 * 10**15
GEMMA = REGISTRY["gemma3-270m"]
HAS_INCENTIVES = any(x.get("name") == "slash" for x in artifact("AgentOracle")["abi"])
pytestmark = pytest.mark.skipif(not HAS_INCENTIVES, reason="the compiled AgentOracle has no commit-reveal/stake/slash yet")

# questions both families answer alike (benchmarks/oracle_agreement.py), one per kind
AGREED = [("bool", "Is Paris the capital of France?", None), ("choice", "What colour is a clear daytime sky?", ["blue", "green", "red"]),
          ("uint", "How many legs does a spider have?", None), ("text", "What is the capital of France?", None)]


@pytest.fixture(scope="session")
async def gemma(stack):
    if url := os.environ.get("CONCILIUM_TEST_GEMMA_URL"):
        stack.attach("bundled:gemma3-270m", url, GEMMA.served_name)
    server, _ = await stack.model("bundled:gemma3-270m")
    return server


@pytest.fixture
def models(vllm, gemma):
    return [ModelClient(vllm.url, BUNDLED_NAME), ModelClient(gemma.url, GEMMA.served_name)]


class Copier(OracleNode):
    """Runs no model: waits for the peers' reveals, then seals and reveals the majority value."""

    async def _evaluate(self, rnd):
        pre = await self.model.preimage()
        for _ in range(200):
            revealed = [a for a in await self.peers.fetch(rnd.request_id) if a.revealed and a.reveal_matches()]
            if revealed:
                value = max({a.value for a in revealed}, key=lambda v: sum(a.value == v for a in revealed))
                answer = self.sign(rnd.request_id, bytes.fromhex(rnd.commitment[2:]), value, bytes.fromhex(model_id_of(pre)[2:]))
                (await self._exchange(rnd)).commit_own(answer)
                return answer
            await asyncio.sleep(0.2)
        return None


class DoubleSigner(OracleNode):
    """Sends one peer a seal of its answer and the others a seal of something else."""

    async def _run_round(self, rnd):
        await super()._run_round(rnd)
        own = self._own(rnd.request_id)
        if own is not None and not own.unanswerable:
            other = self.sign(rnd.request_id, own.commitment, own.value + b"\x00", own.model_id)
            await self.peers.broadcast(other.commit_only())


async def mixed(anvil, models, tmp_path, byzantine=None):
    net = await LocalOracleNetwork.deploy(anvil.url, models, tmp_path / "oracle", n=4, backoff=1.0)
    for i, cls in (byzantine or {}).items():
        old = net.nodes[i]
        net.nodes[i] = cls(old.settings, old.wallet, old.chain, old.model, old.store)
    return await net.start()


async def test_a_mixed_network_answers_every_kind_and_records_each_model(anvil, models, chain, tmp_path):
    net = await mixed(anvil, models, tmp_path)
    try:
        client = OracleClient(chain, net.oracle, dev_wallet(6))
        for kind, prompt, labels in AGREED:
            req = await client.request(prompt, kind, labels=labels, fee=FEE)
            await req.result(timeout=300)
            rounds = [await n.store.get(n._key(req.request_id)) for n in net.nodes]
            ids = {r.model_id for r in rounds}
            assert len(ids) == 2, ids  # one model id per family, recorded per answer
            trail = await round_trail(net.nodes[0].store, rounds[0])
            assert len(trail["answers_by_model"]) == 2 and all(g["answers"] for g in trail["answers_by_model"])
    finally:
        await net.stop()


async def test_a_lazy_node_that_copies_revealed_answers_earns_nothing_over_five_rounds(anvil, models, chain, tmp_path):
    net = await mixed(anvil, models, tmp_path, {3: Copier})
    try:
        client = OracleClient(chain, net.oracle, dev_wallet(7))
        lazy = net.nodes[3].address
        for _ in range(5):
            req = await client.request("Is Paris the capital of France?", "bool", fee=FEE)
            await req.result(timeout=300)
        info = await net.nodes[0].contract.functions.nodeInfo(lazy).call()
        assert await client.credits(lazy) == 0 and info[4] == 0  # credit, agreed
        honest = [await client.credits(n.address) for n in net.nodes[:3]]
        assert all(c > 0 for c in honest), honest
    finally:
        await net.stop()


async def test_a_node_that_double_signs_is_slashed_by_an_honest_node(anvil, models, chain, tmp_path):
    net = await mixed(anvil, models, tmp_path, {2: DoubleSigner})
    try:
        client = OracleClient(chain, net.oracle, dev_wallet(8))
        bad = net.nodes[2].address
        req = await client.request("Is Paris the capital of France?", "bool", fee=FEE, timeout=60)
        for _ in range(300):
            info = await net.nodes[0].contract.functions.nodeInfo(bad).call()
            if info[5]:  # slashed
                break
            await asyncio.sleep(0.5)
        assert info[5] == 1 and info[0] == 3  # Bond.Slashed
        notes = [json.dumps((await n.store.get(n._key(req.request_id))).as_dict()) for n in net.nodes if n.address != bad]
        assert any("slashed" in t for t in notes)
    finally:
        await net.stop()
