"""Acceptance (issue 8): 4 nodes (f=1), one of them Byzantine in every way at once: it lies,
forges signatures, replays answers signed for other requests, floods its peers' endpoints with
signed calls and junk, and goes silent for whole rounds. Every round lands the honest answer,
signed by the honest nodes only; the honest nodes stay healthy."""

import asyncio
import json

from eth_abi import encode

from concilium.chain.wallets import dev_wallet
from concilium.llm.client import ModelClient
from concilium.oracle.client import OracleClient
from concilium.oracle.kinds import Kind
from concilium.oracle.network import LocalOracleNetwork
from concilium.oracle.node import OracleNode
from concilium.oracle.signing import sign_answer
from concilium.peering.client import PeerClient
from concilium.peering.guard import RateLimit
from concilium.stack.model import BUNDLED_NAME

FEE = 3 * 10**15


class Byzantine(OracleNode):
    rounds = 0
    previous: bytes | None = None

    def decide_value(self, kind, raw, options):
        return encode(["bool"], [not raw]) if kind is Kind.BOOL else super().decide_value(kind, raw, options)

    def sign(self, request_id, commitment, value, model_id):
        self.rounds += 1
        if self.rounds % 2:  # forged: a signature that is not over this answer
            a = super().sign(request_id, commitment, value, model_id)
            return type(a)(a.request_id, a.commitment, a.value, a.model_id, bytes([a.signature[0] ^ 1]) + a.signature[1:], a.signer)
        # replayed: signed over the previous request's commitment
        old, self.previous = self.previous or bytes(32), commitment
        a = sign_answer(self.wallet, self.domain, request_id, old, value, model_id)
        return type(a)(request_id, commitment, a.value, a.model_id, a.signature, a.signer)

    async def _run_round(self, rnd):
        if rnd.request_id % 3 == 0:
            return None  # silent this round
        await super()._run_round(rnd)
        # ...and replays every answer it holds to every peer, relabelled as its own
        for a in self.aggregator.held(rnd.request_id):
            await self.peers.broadcast(type(a)(a.request_id, a.commitment, a.value, a.model_id, a.signature, self.address))

    async def start(self):
        await super().start()
        self.flooder = PeerClient(self.guard.realm, self.wallet, list(self.settings.peers), timeout=2.0)
        self.supervisor.spawn(self._flood(), "flood")
        return self

    async def _flood(self):
        junk = b'{"request_id": 1, "value": "0x' + b"ab" * 4000 + b'"}'
        while True:
            await asyncio.gather(*(self.flooder.get_all(f"/v1/answers/{i}") for i in range(1, 8)),
                                 self.flooder.post_all("/v1/answers", junk))
            await asyncio.sleep(0.01)

    async def stop(self):
        await super().stop()
        await self.flooder.close()


async def test_one_byzantine_node_that_does_everything_wrong_never_changes_a_result(anvil, vllm, chain, tmp_path):
    model = ModelClient(vllm.url, BUNDLED_NAME)
    net = await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", n=4, backoff=1.0)
    old = net.nodes[0]
    net.nodes[0] = Byzantine(old.settings, old.wallet, old.chain, old.model, old.store)
    await net.start()
    for n in net.nodes[1:]:  # tighter than the default (20/s, burst 40) so that even a slow flood on a busy machine hits it
        n.guard.rate = RateLimit(per_second=5, burst=15)
    try:
        client = OracleClient(chain, net.oracle, dev_wallet(2))
        bad = net.nodes[0].address
        for q in ("Is 7 a prime number?", "Is 10 an odd number?", "Is water wet?", "Is the sun cold?", "Is 4 even?"):
            req = await client.request(q, "bool", fee=FEE)
            r = await req.result(180)
            honest = set()
            for n in net.nodes[1:]:
                rnd = await n.store.get(n._key(req.request_id))
                honest.add(json.loads(rnd.my_answer)["value"])
            assert len(honest) == 1 and "0x" + r.raw.hex() in honest, (q, honest, r.raw)
            assert bad not in r.signers and len(r.signers) == 3
        assert net.nodes[0].rounds >= 2  # it did take part (and lied) in some rounds
        for n in net.nodes[1:]:
            ok, health = await n.health()
            assert ok, health
            text = n.metrics.render().decode()
            assert 'concilium_oracle_peer_rejections_total{reason="429"}' in text
    finally:
        await net.stop()
