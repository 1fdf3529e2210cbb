"""Nodes never stop (issue 8, item 1), on the real stack: poison `Requested` events mixed with
normal requests, a node killed mid-round, a node restarted after its round closed.

Poison comes from `PoisonOracle` (contracts/testing): AgentOracle plus a door that emits any log
from the oracle's address; `requested_log` encodes a `Requested` event with any fields, so the
test holds whatever bounds the contract enforces onchain."""

import asyncio
import json

import httpx
import pytest
from eth_abi import encode
from eth_utils import keccak

from concilium.chain.abi import artifact
from concilium.chain.wallets import dev_wallet
from concilium.llm.client import ModelClient
from concilium.oracle.client import OracleClient, OracleTimeout
from concilium.oracle.kinds import Kind
from concilium.oracle.network import LocalOracleNetwork
from concilium.oracle.node import OracleNode
from concilium.stack.model import BUNDLED_NAME

FEE = 3 * 10**15
BIG = 2**255


@pytest.fixture
async def model(vllm):
    return ModelClient(vllm.url, BUNDLED_NAME)


def requested_log(contract, rid: int, consumer: str, prompt: bytes, kind: Kind, options: bytes, deadline: int) -> list:
    """`emitRaw`'s arguments for a `Requested` event with these fields (types from the ABI)."""
    event = next(e for e in contract.abi if e.get("type") == "event" and e["name"] == "Requested")
    fields = event["inputs"][2]["components"]
    values = {"consumer": consumer, "deadline": deadline, "callbackGasLimit": 0, "fee": 0, "epoch": 1, "kind": int(kind),
              "status": 1, "quorum": 3, "f": 1, "labels": 0, "pinned": False, "minFamilies": 0, "maxGasPrice": 0,
              "commitment": keccak(prompt), "modelId": bytes(32)}
    request_type = "(" + ",".join(f["type"] for f in fields) + ")"
    data = encode([request_type, "bytes", "bytes"], [tuple(values[f["name"]] for f in fields), prompt, options])
    return [contract.events.Requested().topic, rid.to_bytes(32, "big"), bytes(12) + bytes.fromhex(consumer[2:]), data]


async def until(pred, timeout: float = 60.0, every: float = 0.1):
    for _ in range(int(timeout / every)):
        if v := await pred():
            return v
        await asyncio.sleep(every)
    raise AssertionError("condition not met in time")


POISON = [  # (request id, prompt bytes, kind, options, deadline, what the skip reason says)
    (BIG + 1, b"Is 7 prime?", Kind.BOOL, b"", 2**64 - 1, "maximum timeout"),
    (BIG + 3, b"Pick one", Kind.CHOICE, b"\x01" * 20_000, None, "options of 20000 bytes"),
    (BIG + 5, b"x" * 40_000, Kind.TEXT, b"", None, "prompt of 40000 bytes"),
    (BIG + 6, None, None, None, None, "does not decode"),  # a Requested topic over data that is no Requested
]
NOT_UTF8 = b"Is \xff\xfe 7 \xc3\x28 prime?"


async def test_poison_events_are_skipped_with_a_reason_and_every_normal_request_is_fulfilled(anvil, model, chain, tmp_path):
    net = await (await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", n=4, backoff=1.0,
                                                 contract="PoisonOracle")).start()
    try:
        client = OracleClient(chain, net.oracle, dev_wallet(2))
        poisoner = chain.contract(net.oracle, artifact("PoisonOracle")["abi"])
        now = (await chain.w3.eth.get_block("latest"))["timestamp"]

        async def poison(i: int) -> None:
            rid, prompt, kind, options, deadline, _ = POISON[i]
            if prompt is None:
                topic = client.contract.events.Requested().topic
                data = poisoner.encode_abi("emitRaw", args=[topic, rid.to_bytes(32, "big"), bytes(32), b"\x01" * 70])
            else:
                data = poisoner.encode_abi("emitRaw", args=requested_log(client.contract, rid, dev_wallet(3).address, prompt, kind,
                                                                           options, deadline or now + 3600))
            await chain.transact(dev_wallet(3), {"to": net.oracle, "data": data})

        reqs = []
        for step in range(3):  # normal, poison, poison, normal, ...: each normal one after some poison
            reqs.append(await client.request(f"Is {7 + 2 * step} an odd number?", "bool", fee=FEE))
            for i in range(step * 2, min(step * 2 + 2, len(POISON))):
                await poison(i)
        # a well-formed event for a request that does not exist, with an id beyond 64 bits: stored, then closed
        ghost = poisoner.encode_abi("emitRaw", args=requested_log(client.contract, BIG + 99, dev_wallet(3).address, b"Is 3 prime?",
                                                                  Kind.BOOL, b"", now + 3600))
        await chain.transact(dev_wallet(3), {"to": net.oracle, "data": ghost})
        # a real request whose prompt is not UTF-8 (the contract cannot tell): settled unanswerable, refunded
        raw = client.contract.encode_abi("request", args=["?", 0, b"", 0])[:10] + encode(
            ["bytes", "uint8", "bytes", "uint32"], [NOT_UTF8, 0, b"", 0]).hex()
        receipt = await chain.transact(dev_wallet(2), {"to": net.oracle, "data": raw, "value": FEE})
        bad_rid = int.from_bytes(bytes(receipt["logs"][0]["topics"][1]), "big")  # web3 itself cannot decode this event
        reqs.append(await client.request("Is 2 an even number?", "bool", fee=FEE))

        results = await asyncio.gather(*(r.result(180) for r in reqs))
        assert all(len(r.signers) >= 3 for r in results)

        async def unanswered():
            logs = await client.contract.events.Unanswered().get_logs(from_block=0, argument_filters={"requestId": bad_rid})
            return logs[0] if logs else None

        verdict = await until(unanswered, 120)
        assert set(verdict["args"]["reasons"]) == {1} and verdict["args"]["refund"] > 0  # PromptRejected

        for n in net.nodes:
            async def all_seen(n=n):
                return n.watcher.status.cursor >= (await chain.w3.eth.block_number)
            await until(all_seen)
            skipped = {(e.block, e.log_index): e.reason for e in await n.store.skipped(n.address)}
            assert len(skipped) == len(POISON)
            reasons = sorted(skipped.values())
            for *_, expected in POISON:
                assert any(expected in r for r in reasons), (expected, reasons)
            ghost_round = await n.store.get(n._key(BIG + 99))
            assert ghost_round is not None and ghost_round.request_id == BIG + 99
            await until(lambda n=n: _settled(n, BIG + 99))
            async with httpx.AsyncClient() as http:
                h = await http.get(f"{n.url}/health")
                m = await http.get(f"{n.url}/metrics")
            body = h.json()
            assert h.status_code == 200 and body["ok"] is True, body
            assert body["watcher"]["alive"] and body["watcher"]["lag"] == 0
            assert body["skipped_events"] == len(POISON) and body["dead_tasks"] == []
            assert {s["reason"] for s in body["recent_skips"]} <= set(reasons)
            assert f"concilium_oracle_skipped_events_total {float(len(POISON))}" in m.text
            assert "concilium_oracle_watcher_alive 1.0" in m.text

        # a restart reads the same chain again from its cursor: nothing new is skipped, nothing dies
        fresh = await net.restart_node(1)
        await asyncio.sleep(1.0)
        ok, body = await fresh.health()
        assert ok and body["skipped_events"] == len(POISON) and fresh.watcher.status.skipped == 0
    finally:
        await net.stop()


async def _settled(node, rid: int) -> bool:
    rnd = await node.store.get(node._key(rid))
    return rnd.status not in ("open", "answered")


async def test_a_node_killed_mid_round_resumes_with_its_own_answer(anvil, model, chain, tmp_path):
    net = await (await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", n=4, backoff=1.0)).start()
    try:
        await net.nodes[0].stop()
        await net.nodes[1].stop()  # two down: no quorum until they return
        client = OracleClient(chain, net.oracle, dev_wallet(2))
        req = await client.request("How many legs does a spider have?", "uint", fee=FEE)  # 3 of 4 up: any quorum settles a number
        node2 = net.nodes[2]

        async def answered():
            rnd = await node2.store.get(node2._key(req.request_id))
            return rnd if rnd and rnd.my_answer else None

        before = json.loads((await until(answered)).my_answer)
        await node2.stop()  # killed mid-round: answered, not yet fulfilled
        with pytest.raises(OracleTimeout):
            await req.result(timeout=2)
        await net.restart_node(0)
        await net.restart_node(2)
        r = await req.result(120)
        after = await net.nodes[2].store.get(net.nodes[2]._key(req.request_id))
        assert json.loads(after.my_answer)["signature"] == before["signature"]  # resumed, not re-asked
        assert len(await client.contract.events.Fulfilled().get_logs(from_block=req.block)) == 1
        assert len(r.reported) == 3
    finally:
        await net.stop()


async def test_a_restarted_node_does_not_reopen_a_round_fulfilled_while_it_was_down(anvil, model, chain, tmp_path):
    net = await (await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", n=4, backoff=1.0)).start()
    try:
        client = OracleClient(chain, net.oracle, dev_wallet(2))
        node3 = net.nodes[3]
        await node3.stop()
        req = await client.request("How many legs does a spider have?", "uint", fee=FEE)  # 3 of 4 up: any quorum settles a number
        await req.result(120)
        # back after the fulfilment: it reads Requested then Fulfilled from its cursor
        fresh = await net.restart_node(3)

        async def closed():
            rnd = await fresh.store.get(fresh._key(req.request_id))
            return rnd and rnd.status == "fulfilled"

        await until(closed)
        await asyncio.sleep(1.5)
        rnd = await fresh.store.get(fresh._key(req.request_id))
        assert rnd.my_answer is None and rnd.submit_tx is None  # never evaluated, never submitted
        assert req.request_id not in fresh._rounds
        assert len(await client.contract.events.Fulfilled().get_logs(from_block=req.block)) == 1
    finally:
        await net.stop()


class CountsSeals(OracleNode):
    """An honest node that counts the seals it signs per request (the signing seam, unchanged)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.seals: dict[int, int] = {}

    def sign(self, request_id, commitment, value, model_id):
        self.seals[request_id] = self.seals.get(request_id, 0) + 1
        return super().sign(request_id, commitment, value, model_id)


async def test_a_round_reached_twice_at_once_is_sealed_once(anvil, model, chain, tmp_path):
    """After a restart the watcher (catching up) and the store's open rounds both lead a node to the
    same request, at the same moment; two round tasks would each seal, and two different seals
    from one node are slashable: an honest node must sign one seal, whatever reaches it twice."""
    net = await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", n=4, backoff=1.0)
    old = net.nodes[1]
    node = net.nodes[1] = CountsSeals(old.settings, old.wallet, old.chain, old.model, old.store)
    await net.start()
    try:
        client = OracleClient(chain, net.oracle, dev_wallet(2))
        req = await client.request("How many legs does a spider have?", "uint", fee=FEE)

        async def opened():
            return req.request_id in node._rounds

        await until(opened, every=0.01)
        await asyncio.gather(node._resume(), node._resume())  # the store's open rounds, twice, while the model answers
        r = await req.result(120)
        assert node.seals == {req.request_id: 1}
        assert node.address in r.reported
        assert await client.contract.events.Slashed().get_logs(from_block=req.block) == []
    finally:
        await net.stop()
