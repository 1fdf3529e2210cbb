"""The oracle node's peer endpoint, attacked on the real stack (issue 8, item 6): every call is
signed by a registered node key; answers only from their own signer, only for requests the node
saw pending; reads only for registered nodes; reveal notices only from members, never a url to
call; bodies capped; floods rate-limited."""

import asyncio
import json
import time

import pytest
from eth_abi import encode

from concilium.chain.wallets import dev_wallet
from concilium.llm.client import ModelClient
from concilium.oracle.client import OracleClient
from concilium.oracle.network import LocalOracleNetwork
from concilium.oracle.node import OracleNode
from concilium.oracle.peers import AnswerMessage
from concilium.oracle.signing import sign_answer
from concilium.peering.client import PeerClient
from concilium.peering.guard import RateLimit
from concilium.stack.model import BUNDLED_NAME

FEE = 3 * 10**15


class Mute(OracleNode):
    """A registered node that neither answers nor submits: the request stays pending."""

    async def _run_round(self, rnd):
        return None


@pytest.fixture
async def model(vllm):
    return ModelClient(vllm.url, BUNDLED_NAME)


async def test_peer_endpoint_refuses_every_attack_and_serves_members(anvil, model, chain, tmp_path):
    net = await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", n=4, backoff=1.0)
    for i in range(4):
        old = net.nodes[i]
        net.nodes[i] = Mute(old.settings, old.wallet, old.chain, old.model, old.store)
    await net.start()
    try:
        target = net.nodes[0]
        realm = target.guard.realm
        req = await OracleClient(chain, net.oracle, dev_wallet(2)).request("Is 7 a prime number?", "bool", fee=FEE)
        for _ in range(200):
            if req.request_id in target._rounds:
                break
            await asyncio.sleep(0.05)
        rid = req.request_id
        commitment = bytes.fromhex(target._rounds[rid].commitment[2:])
        member, other = net.nodes[1].wallet, net.nodes[2].wallet
        as_member = PeerClient(realm, member, [target.url])
        outsider = PeerClient(realm, dev_wallet(7), [target.url])
        value, model_id = encode(["bool"], [True]), bytes(32)

        def body(a) -> bytes:
            return AnswerMessage.of(a).model_dump_json().encode()

        async def post(client, payload: bytes) -> int:
            return (await client.request(target.url, "POST", "/v1/answers", payload)).status_code

        own = sign_answer(member, target.domain, rid, commitment, value, model_id)
        # unregistered caller: no reads, no writes
        assert (await outsider.request(target.url, "GET", f"/v1/answers/{rid}")).status_code == 403
        assert await post(outsider, body(sign_answer(dev_wallet(7), target.domain, rid, commitment, value, model_id))) == 403
        # a member relaying (or forging) another member's answer
        assert await post(as_member, body(sign_answer(other, target.domain, rid, commitment, value, model_id))) == 403
        # answers for request ids the node never saw pending, including huge ones
        for unknown in (rid + 1, 2**255):
            assert await post(as_member, body(sign_answer(member, target.domain, unknown, commitment, value, model_id))) == 404
        assert (await as_member.request(target.url, "GET", f"/v1/answers/{rid + 1}")).status_code == 404
        # a signature that does not cover this answer
        forged = type(own)(rid, commitment, encode(["bool"], [False]), model_id, own.signature, own.signer)
        assert await post(as_member, body(forged)) == 401
        # a replayed call: same headers, same body
        payload = body(own)
        from concilium.peering.envelope import seal

        h = {**seal(member, realm, "POST", "/v1/answers", payload).headers(), "content-type": "application/json"}
        assert (await as_member.http.post(f"{target.url}/v1/answers", content=payload, headers=h)).status_code == 202
        assert (await as_member.http.post(f"{target.url}/v1/answers", content=payload, headers=h)).status_code == 401
        # oversized body
        assert await post(as_member, b"{" + b" " * 40_000 + b"}") == 413
        # the member reads what the node holds; an outsider learned nothing above
        held = (await as_member.request(target.url, "GET", f"/v1/answers/{rid}")).json()
        assert [m["signer"] for m in held] == [member.address]
        # reveal notices: members only, well-formed, for a pending request; the url is a hint, never
        # a place the node can be sent to (a url that is not one of its peers: it asks its own peers)
        hits: list[int] = []

        def trapped(reader, writer):
            hits.append(1)
            writer.close()

        trap = await asyncio.start_server(trapped, "127.0.0.1", 0)
        notice = json.dumps({"url": f"http://127.0.0.1:{trap.sockets[0].getsockname()[1]}"}).encode()

        async def notify(client, payload: bytes, request_id: int = rid) -> int:
            return (await client.request(target.url, "POST", f"/v1/revealed/{request_id}", payload)).status_code

        assert await notify(outsider, notice) == 403
        assert await notify(as_member, b'{"url": 5}') == 422
        assert await notify(as_member, json.dumps({"url": "x" * 600}).encode()) == 422
        assert await notify(as_member, notice, rid + 1) == 404
        assert await notify(as_member, notice) == 202
        await asyncio.sleep(1.0)
        trap.close()
        assert hits == [], "the node fetched from a url a peer gave it"
        # a flood by one member is cut off; another member is still served
        target.guard.rate = RateLimit(per_second=2, burst=10)  # tighter than the default 20/s, burst 40, to keep the test short
        started = time.monotonic()
        codes = [(await as_member.request(target.url, "GET", f"/v1/answers/{rid}")).status_code for _ in range(40)]
        assert codes[:10] == [200] * 10
        assert codes.count(200) <= 10 + 2 * (time.monotonic() - started) + 1 and codes.count(429) >= 20
        as_other = PeerClient(realm, other, [target.url])
        assert (await as_other.request(target.url, "GET", f"/v1/answers/{rid}")).status_code == 200
        ok, health = await target.health()
        assert ok
        assert 'concilium_oracle_peer_rejections_total{reason="429"}' in target.metrics.render().decode()
        for c in (as_member, outsider, as_other):
            await c.close()
    finally:
        await net.stop()
