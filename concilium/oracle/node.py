"""An oracle node: watch -> evaluate -> sign -> exchange -> aggregate -> submit.

Each `Requested` event opens a round. The node asks its own model under the answer kind's JSON
schema (temperature 0, fixed seed), signs the ABI-encoded answer (EIP-712), keeps it, and sends
it to its peers. Answers from peers are kept only if their signature recovers to a registered
node. When a quorum agrees, the round's leader (registry order, by requestId) submits
`fulfill`; the others wait rank x back-off and submit only if the request is still open. Every
round is recorded: the node's answer, the peers' answers, the outcome, the gas.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from hexbytes import HexBytes
from langchain_core.messages import HumanMessage, SystemMessage
from web3.logs import DISCARD

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient, SignedTx
from concilium.chain.inflight import settle_inflight
from concilium.chain.wallets import Wallet
from concilium.errors import ChainError, ConciliumError, ModelUnavailable
from concilium.httpserver import HttpServer
from concilium.llm.client import ModelClient
from concilium.oracle.aggregator import Aggregator
from concilium.oracle.kinds import (
    Kind,
    answer_schema,
    decode_answer,
    encode_answer,
    prompt_messages,
)
from concilium.oracle.peers import PeerClient, Rejected, peer_app
from concilium.oracle.signing import Domain, SignedAnswer, recover_signer, sign_answer
from concilium.oracle.store import OracleStore, Round
from concilium.oracle.watcher import Watcher

log = logging.getLogger("concilium.oracle.node")
PENDING = 1  # AgentOracle.Status.Pending


@dataclass
class NodeSettings:
    oracle: str
    host: str = "127.0.0.1"
    port: int = 8700
    peers: tuple[str, ...] = ()
    confirmations: int = 0
    backoff: float = 3.0
    poll: float = 0.25
    start_block: int | None = None


class OracleNode:
    def __init__(self, settings: NodeSettings, wallet: Wallet, chain: ChainClient, model: ModelClient, store: OracleStore):
        self.settings = settings
        self.wallet = wallet
        self.address = wallet.address
        self.chain = chain
        self.model = model
        self.store = store
        self.contract = chain.contract(settings.oracle, artifact("AgentOracle")["abi"])
        self.aggregator = Aggregator()
        self.peers = PeerClient(list(settings.peers))
        self.app = peer_app(self.address, self.receive, self.aggregator.held)
        self.domain: Domain | None = None
        self._tasks: set[asyncio.Task] = set()
        self._rounds: dict[int, Round] = {}
        self._submitting: set[int] = set()
        self._server: HttpServer | None = None
        self._registry: tuple[float, list[str], int] = (0.0, [], 0)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def _key(self, request_id: int) -> str:
        return f"{self.settings.oracle}:{request_id}:{self.address}"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> "OracleNode":
        self.domain = Domain(await self.chain.chain_id(), self.settings.oracle)
        self._server = await HttpServer(self.app, self.settings.host, self.settings.port, "oracle node").start()
        cursor_key = f"{self.settings.oracle}:{self.address}"
        watcher = Watcher(self.contract, self.settings.confirmations, lambda: self.store.cursor(cursor_key),
                          lambda b: self.store.set_cursor(cursor_key, b), self._on_event, self.settings.poll,
                          start_block=self.settings.start_block)
        self._spawn(self._resume())
        self._spawn(watcher.run_forever())
        log.info("oracle node started", extra={"node": self.address, "url": self.url})
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.peers.close()

    def _spawn(self, coro) -> asyncio.Task:
        t = asyncio.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._done)
        return t

    def _done(self, t: asyncio.Task) -> None:
        self._tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("node task failed", exc_info=t.exception(), extra={"node": self.address})

    async def _resume(self) -> None:
        """After a restart: pick up the rounds the store says are still open."""
        for rnd in await self.store.open_rounds(self.address):
            self._rounds[rnd.request_id] = rnd
            if rnd.status == "submitted" and rnd.submit_tx:
                self._spawn(self._settle_submission(rnd))
                continue
            if rnd.my_answer:
                mine = json.loads(rnd.my_answer)
                self.aggregator.add(SignedAnswer(rnd.request_id, bytes.fromhex(mine["value"][2:]), bytes.fromhex(mine["model_id"][2:]),
                                                 bytes.fromhex(mine["signature"][2:]), self.address))
            self._spawn(self._run_round(rnd))

    # ------------------------------------------------------------------ events

    async def _on_event(self, name: str, e) -> None:
        args = e["args"]
        rid = int(args["requestId"])
        if name == "Requested":
            rnd = await self.store.add(Round(
                key=self._key(rid), node=self.address, oracle=self.settings.oracle, request_id=rid, status="open",
                consumer=args["consumer"], kind=int(args["kind"]), prompt=args["prompt"], options="0x" + bytes(args["options"]).hex(),
                pinned_model="0x" + bytes(args["modelId"]).hex(), deadline=int(args["deadline"]), fee_wei=str(args["fee"]),
                peer_answers="{}"))
            if rnd.status == "open" and rid not in self._rounds:
                self._rounds[rid] = rnd
                self._spawn(self._run_round(rnd))
        elif name in ("Fulfilled", "Cancelled"):
            rnd = self._rounds.pop(rid, None) or await self.store.get(self._key(rid))
            if rnd is None:
                return
            fields = {"status": "fulfilled" if name == "Fulfilled" else "cancelled", "fulfil_tx": HexBytes(e["transactionHash"]).to_0x_hex()}
            if name == "Fulfilled":
                fields["result"] = "0x" + bytes(args["result"]).hex()
                fields["note"] = json.dumps({"signers": list(args["signers"]), "callback_ok": bool(args["callbackOk"])})
            await self.store.update(rnd, peer_answers=self._peer_record(rid), **fields)
            self.aggregator.forget(rid)

    # ------------------------------------------------------------------ a round

    async def _run_round(self, rnd: Round) -> None:
        rid = rnd.request_id
        try:
            mine = next((a for a in self.aggregator.held(rid) if a.signer == self.address), None)
            if mine is None:
                if time.time() > rnd.deadline:
                    await self.store.update(rnd, status="expired")
                    return
                mine = await self._evaluate(rnd)
                if mine is None:
                    return
            await self.peers.broadcast(mine)
            for a in await self.peers.fetch(rid):  # answers that arrived before we were listening
                await self._accept(a)
            await self._maybe_submit(rnd)
        except ModelUnavailable as e:
            await self.store.update(rnd, note=f"model unavailable: {e}")
            log.warning("round failed: model unavailable", extra={"node": self.address, "request": rid})

    async def _evaluate(self, rnd: Round) -> SignedAnswer | None:
        kind, options = Kind(rnd.kind), bytes.fromhex(rnd.options[2:])
        model_id = bytes.fromhex((await self.model.model_id())[2:])
        pinned = bytes.fromhex(rnd.pinned_model[2:]) if rnd.pinned_model else bytes(32)
        if pinned != bytes(32) and pinned != model_id:
            await self.store.update(rnd, status="skipped", note="request pins a model this node does not serve")
            return None
        msgs = [SystemMessage(c) if r == "system" else HumanMessage(c) for r, c in prompt_messages(rnd.prompt, kind, options)]
        out = await self.model.decide(msgs, answer_schema(kind, options), schema_name="answer")
        value = self.decide_value(kind, out.value.get("answer"), options)
        answer = self.sign(rnd.request_id, value, model_id)
        self.aggregator.add(answer)
        await self.store.update(rnd, status="answered", model_id="0x" + model_id.hex(), model_output=out.text,
                                my_answer={"value": "0x" + answer.value.hex(), "model_id": "0x" + model_id.hex(),
                                           "signature": "0x" + answer.signature.hex(), "readable": str(decode_answer(kind, value, options))})
        return answer

    # the two seams a node operator (or a fault-injecting test) may override
    def decide_value(self, kind: Kind, raw, options: bytes) -> bytes:
        return encode_answer(kind, raw, options)

    def sign(self, request_id: int, value: bytes, model_id: bytes) -> SignedAnswer:
        return sign_answer(self.wallet, self.domain, request_id, value, model_id)

    # ------------------------------------------------------------------ peers

    async def receive(self, a: SignedAnswer) -> None:
        """An answer from a peer (HTTP). Raises Rejected for a bad or unknown signature."""
        await self._accept(a, strict=True)
        rnd = self._rounds.get(a.request_id)
        if rnd is not None and rnd.my_answer is not None:
            self._spawn(self._maybe_submit(rnd))

    async def _accept(self, a: SignedAnswer, strict: bool = False) -> bool:
        signer = recover_signer(self.domain, a.request_id, a.value, a.model_id, a.signature)
        if signer is None or signer.lower() != a.signer.lower():
            if strict:
                raise Rejected(401, "signature does not recover to the claimed signer for this request and domain")
            return False
        nodes, _ = await self._registry_view()
        if signer not in nodes:
            if strict:
                raise Rejected(403, f"{signer} is not a registered node of this oracle")
            return False
        return self.aggregator.add(SignedAnswer(a.request_id, a.value, a.model_id, a.signature, signer))

    async def _registry_view(self) -> tuple[list[str], int]:
        at, nodes, quorum = self._registry
        if time.monotonic() - at > 2.0:
            nodes, quorum = await asyncio.gather(self.contract.functions.nodes().call(), self.contract.functions.quorum().call())
            self._registry = (time.monotonic(), list(nodes), int(quorum))
        return self._registry[1], self._registry[2]

    def _peer_record(self, rid: int) -> dict:
        return {a.signer: {"value": "0x" + a.value.hex(), "model_id": "0x" + a.model_id.hex()}
                for a in self.aggregator.held(rid) if a.signer != self.address}

    # ------------------------------------------------------------------ submission

    async def _maybe_submit(self, rnd: Round) -> None:
        rid = rnd.request_id
        if rid in self._submitting or rnd.status not in ("open", "answered"):
            return
        nodes, quorum = await self._registry_view()
        pinned = bytes.fromhex(rnd.pinned_model[2:]) if rnd.pinned_model and int(rnd.pinned_model, 16) else None
        answers = self.aggregator.quorum_set(rid, Kind(rnd.kind), quorum, pinned)
        if answers is None:
            return
        self._submitting.add(rid)
        try:
            order = sorted(nodes, key=lambda n: int(n, 16))
            leader = rid % len(order)
            rank = (order.index(self.address) - leader) % len(order) if self.address in order else len(order)
            if rank:
                await asyncio.sleep(rank * self.settings.backoff)
                answers = self.aggregator.quorum_set(rid, Kind(rnd.kind), quorum, pinned) or answers
            await self._submit(rnd, answers)
        finally:
            self._submitting.discard(rid)

    async def _submit(self, rnd: Round, answers: list[SignedAnswer]) -> None:
        rid = rnd.request_id
        status = (await self.contract.functions.requests(rid).call())[5]
        if status != PENDING:
            return  # someone else fulfilled it (or it was cancelled): the watcher records that
        data = self.contract.encode_abi("fulfill", args=[rid, [a.as_tuple() for a in answers]])
        tx = {"to": self.contract.address, "data": data}
        sim = await self.chain.simulate({"from": self.address, **tx})
        if not sim.ok:
            await self.store.update(rnd, note=f"fulfil would fail: {sim.error}")
            return
        prepared = await self.chain.prepare(tx, self.address, sim.gas, extra=50_000)  # the consumer's callback varies

        async def record(st: SignedTx) -> None:
            await self.store.update(rnd, status="submitted", submit_tx=st.hash, submit_raw=st.raw, submit_nonce=st.nonce,
                                    peer_answers=self._peer_record(rid))

        try:
            signed = await self.chain.send(self.wallet, prepared, before_broadcast=record)
        except ConciliumError as e:
            await self.store.update(rnd, note=f"submit failed: {e}")
            return
        log.info("fulfil submitted", extra={"node": self.address, "request": rid, "tx": signed.hash, "signers": len(answers)})
        await self._settle_submission(rnd)

    async def _settle_submission(self, rnd: Round) -> None:
        """Wait for our fulfil (or, after a restart, settle it by hash and nonce)."""
        try:
            settled = await settle_inflight(self.chain, rnd.submit_tx, rnd.submit_raw, self.address, rnd.submit_nonce)
        except ChainError as e:
            await self.store.update(rnd, note=f"submission unsettled: {e}")
            return
        receipt = settled.receipt
        if receipt is None:
            await self.store.update(rnd, status="answered", note=settled.note)
            return
        fields: dict = {"gas_used": int(receipt["gasUsed"]), "fulfil_tx": HexBytes(receipt["transactionHash"]).to_0x_hex()}
        events = self.contract.events.Fulfilled().process_receipt(receipt, errors=DISCARD) if receipt["status"] == 1 else []
        if events:
            fields.update(status="fulfilled", result="0x" + bytes(events[0]["args"]["result"]).hex(),
                          note=json.dumps({"signers": list(events[0]["args"]["signers"]), "callback_ok": bool(events[0]["args"]["callbackOk"])}))
        else:
            fields["note"] = "our fulfil reverted (another node was first)"
        await self.store.update(rnd, **fields)
