"""An oracle node: watch -> evaluate -> seal -> exchange (commit, then reveal) -> aggregate -> submit.

Each `Requested` event opens a round, unless its fee is below the node's floor or its gas-price
bound below the base fee, so that the transmitter could not be reimbursed (the round is recorded as
skipped with the reason; the request expires and its requester is refunded). The node
recomputes the request's commitment from the content it evaluates, asks its own model under the
answer kind's JSON schema (temperature 0, fixed seed), and signs a seal of the ABI-encoded answer
under a secret salt (EIP-712 Commit). Only the signed seal goes to its peers at first; the node
reveals (value, salt) once every node's seal is held, or a quorum of them and a grace period has
passed (`concilium.oracle.exchange`): it tells its peers, and serves the value only to nodes whose
seal it holds, so a node that has not committed has nothing to copy. It counts only reveals that
open a seal it held before its own reveal. When it cannot answer it
signs an `unanswerable` verdict with the reason instead. When a quorum of reveals agrees (or a
quorum of verdicts is held), the round's leader (registry order, by requestId, skipping nodes whose
seal came late) submits every counted reveal, so every matching node is paid; the others wait
rank x back-off, and nobody submits while another node's fulfil for the request is in the mempool.
Two different signed seals from one node are evidence: the node that sees them slashes it. Every
round is recorded: the node's answer, the peers' answers, the outcome, the gas.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, replace

from hexbytes import HexBytes
from langchain_core.messages import HumanMessage, SystemMessage
from web3.logs import DISCARD

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient, SignedTx
from concilium.chain.inflight import settle_inflight
from concilium.chain.mempool import pending_calls
from concilium.chain.wallets import Wallet
from concilium.errors import ChainError, ConciliumError, ModelRefused, ModelUnavailable
from concilium.httpserver import HttpServer
from concilium.lifecycle import Supervisor
from concilium.llm.client import ModelClient
from concilium.llm.provenance import model_id_of
from concilium.oracle.admin import stake_node
from concilium.oracle.aggregator import Aggregator, SettleRule
from concilium.oracle.exchange import SealedRound, submission_rank
from concilium.oracle.events import EventRef, Limits, Message, RequestSeen
from concilium.oracle.kinds import (
    BadValue,
    Kind,
    answer_schema,
    encode_answer,
    prompt_messages,
    readable,
)
from concilium.oracle.metrics import NodeMetrics
from concilium.oracle.params import OracleParams
from concilium.oracle.peers import MAX_BODY, PeerClient, Rejected, peer_app, realm
from concilium.oracle.signing import (
    Domain,
    Reason,
    SignedAnswer,
    fulfil_report,
    recover_signer,
    sign_answer,
    sign_verdict,
    slash_evidence,
)
from concilium.oracle.store import OracleStore, Round, SkippedEvent
from concilium.oracle.tasks import Expiry, ServedApp
from concilium.oracle.watcher import Watcher
from concilium.peering.guard import PeerGuard

log = logging.getLogger("concilium.oracle.node")
PENDING = 1  # AgentOracle.Status.Pending
EPOCH, QUORUM, F, MIN_FAMILIES = 4, 7, 8, 11  # indices in AgentOracle.requests(id)
CLOSED = {2: "fulfilled", 3: "unanswerable", 4: "cancelled"}  # AgentOracle.Status -> round status


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
    limits: Limits | None = None  # None: the contract's own bounds (params())
    fee_floor_wei: int = 0  # requests paying less are skipped (left to expire; the requester is refunded)
    reveal_grace: float = 2.0  # seconds to wait for the last seals after a quorum of them, before revealing


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
        self.peers = PeerClient(wallet, list(settings.peers))
        self.domain: Domain | None = None
        self.metrics = NodeMetrics(self.address)
        self.supervisor = Supervisor(owner=self.address, on_failure=self._task_failed)
        self.watcher: Watcher | None = None
        self.metrics.bind(lambda: float(self.watcher.status.lag or 0) if self.watcher else 0.0,
                          lambda: float(bool(self.watcher and self.watcher.status.alive(self._stale_after))),
                          lambda: float(len(self.supervisor.dead())))
        self.guard = PeerGuard("", self._is_member, max_body=MAX_BODY)
        self.app = peer_app(self.guard, self.receive, self.revealed, self._held, self.health, self.metrics.render,
                            on_refused=lambda e: self.metrics.peer_rejections.labels(str(e.status)).inc())
        self._rounds: dict[int, Round] = {}
        self._submitting: set[int] = set()
        self._sealed: dict[int, SealedRound] = {}  # request -> its commit-reveal (answers; verdicts go to the aggregator)
        self._reveal_sent: set[int] = set()
        self._release_at: set[int] = set()
        self._slashed: set[str] = set()  # nodes this node reported for double-signing
        self._barred: set[str] = set()  # nodes the contract no longer lets sign (slashed, unstaked): left out of reports
        self._server: HttpServer | None = None
        self._registry: tuple[float, list[str]] = (0.0, [])
        self._rules: dict[int, SettleRule] = {}  # request -> what settles it (quorum of its epoch, f, families)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def _key(self, request_id: int) -> str:
        return f"{self.settings.oracle}:{request_id}:{self.address}"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> "OracleNode":
        self.domain = Domain(await self.chain.chain_id(), self.settings.oracle)
        limits = self.settings.limits or await self._onchain_limits()
        self.guard.realm = realm(self.domain.chain_id, self.settings.oracle)
        self.peers.bind(self.guard.realm)
        self._server = await HttpServer(self.app, self.settings.host, self.settings.port, "oracle node").start()
        cursor_key = f"{self.settings.oracle}:{self.address}"
        self.watcher = Watcher(self.contract, self.settings.confirmations, lambda: self.store.cursor(cursor_key),
                               lambda b: self.store.set_cursor(cursor_key, b), self._on_message, self._on_skip,
                               self.settings.poll, start_block=self.settings.start_block, limits=limits)
        self.supervisor.supervise(ServedApp(self._server))
        self.supervisor.supervise(self.watcher)
        self.supervisor.supervise(Expiry(self.expire))
        self.supervisor.spawn(self._resume(), "resume")
        self.supervisor.spawn(self._stake(), "stake")
        log.info("oracle node started", extra={"node": self.address, "url": self.url})
        return self

    async def _stake(self) -> None:
        """Put up the oracle's stake once (a node without one signs nothing the contract accepts)."""
        try:
            if await stake_node(self.chain, self.wallet, self.settings.oracle):
                log.info("node staked", extra={"node": self.address})
        except (ChainError, ConciliumError) as e:
            log.warning("could not stake; answers will not count onchain", extra={"node": self.address, "error": str(e)[:300]})

    async def stop(self) -> None:
        await self.supervisor.stop()
        if self._server is not None:
            await self._server.stop()
        await self.peers.close()

    def _spawn(self, coro, name: str = "round") -> asyncio.Task:
        return self.supervisor.spawn(coro, name)

    async def _onchain_limits(self) -> Limits:
        """The contract's own bounds: anything beyond them cannot be a real request."""
        p = OracleParams.from_tuple(await self.contract.functions.params().call())
        return Limits(p.max_prompt_bytes, p.max_options_bytes, p.max_timeout)

    @property
    def _stale_after(self) -> float:
        return max(10.0, 40 * self.settings.poll)

    def _task_failed(self, f) -> None:
        self.metrics.task_failures.labels(f.task.split(":")[0]).inc()

    async def health(self) -> tuple[bool, dict]:
        """Liveness for operators: the watcher synced recently and every supervised task runs."""
        w = self.watcher.status.as_dict(self._stale_after) if self.watcher else {"alive": False}
        dead = self.supervisor.dead()
        skipped = await self.store.skipped(self.address, limit=5)
        body = {"node": self.address, "oracle": self.settings.oracle, "watcher": w,
                "skipped_events": await self.store.skipped_count(self.address),
                "recent_skips": [{k: v for k, v in e.as_dict().items() if k != "node"} for e in skipped],
                "tasks": {n: st.as_dict() for n, st in self.supervisor.states.items()}, "dead_tasks": dead,
                "recent_failures": [{"task": f.task, "error": f.error, "at": f.at} for f in list(self.supervisor.failures)[-5:]],
                "open_rounds": len(self._rounds), "fee_floor_wei": str(self.settings.fee_floor_wei),
                "under_fee_skipped": await self.store.count_status(self.address, "skipped")}
        ok = bool(w["alive"]) and not dead
        return ok, {"ok": ok, **body}

    async def _resume(self) -> None:
        """After a restart: pick up the rounds the store says are still open, unless the chain
        says they closed while the node was down."""
        for rnd in await self.store.open_rounds(self.address):
            if rnd.status != "submitted" and await self._closed_onchain(rnd):
                continue
            if rnd.request_id in self._rounds:  # the watcher came to it first (both do after a restart)
                continue
            self._rounds[rnd.request_id] = rnd
            if rnd.status == "submitted" and rnd.submit_tx:
                self._spawn(self._settle_submission(rnd), f"settle:{rnd.request_id}")
                continue
            if rnd.my_answer:
                mine = json.loads(rnd.my_answer)
                own = SignedAnswer(rnd.request_id, _hex(rnd.commitment), _hex(mine["value"]), _hex(mine["model_id"]),
                                   _hex(mine["signature"]), self.address, int(mine.get("reason", 0)),
                                   _hex(mine.get("salt")), _hex(mine.get("seal")))
                if own.unanswerable:
                    self.aggregator.add(own)
                else:
                    (await self._exchange(rnd)).commit_own(own)
            self._spawn(self._run_round(rnd), f"round:{rnd.request_id}")

    async def _closed_onchain(self, rnd: Round) -> bool:
        """True (and the round recorded as closed) if the request is no longer pending."""
        status = await self._request_status(rnd.request_id)
        if status == PENDING:
            return False
        await self.store.update(rnd, status=CLOSED.get(status, "expired"), note="not pending onchain when this node came to it")
        self._rounds.pop(rnd.request_id, None)
        return True

    async def _request_status(self, request_id: int) -> int:
        return int(await self.contract.functions.statusOf(request_id).call())

    # ------------------------------------------------------------------ events

    async def _on_skip(self, ref: EventRef, reason: str) -> None:
        self.metrics.skipped.inc()
        await self.store.add_skipped(SkippedEvent(key=f"{self.settings.oracle}:{self.address}:{ref.key}", node=self.address,
                                                  block=ref.block, log_index=ref.log_index, tx=ref.tx, event=ref.name, reason=reason))

    async def _on_message(self, msg: Message) -> None:
        rid = msg.request_id
        if isinstance(msg, RequestSeen):
            self._rules[rid] = SettleRule(msg.quorum, msg.f, msg.min_families)
            rnd = await self.store.add(Round(
                key=self._key(rid), node=self.address, oracle=self.settings.oracle, request_id=rid, status="open",
                consumer=msg.consumer, kind=int(msg.kind), prompt=msg.prompt, options="0x" + msg.options.hex(),
                pinned_model="0x" + msg.model_id.hex(), deadline=msg.deadline, fee_wei=str(msg.fee), peer_answers="{}",
                commitment="0x" + msg.terms().commitment().hex(), prompt_readable=msg.prompt_readable))
            if rnd.status == "open" and msg.fee < self.settings.fee_floor_wei:
                await self._skip(rnd, f"fee {msg.fee} wei is below this node's floor of {self.settings.fee_floor_wei} wei")
                return
            if rnd.status == "open" and msg.max_gas_price < (base := await self._base_fee()):
                await self._skip(rnd, f"its gas-price bound of {msg.max_gas_price} wei is below the base fee of {base} wei: "
                                      "whoever transmits would not get its gas back")
                return
            if rnd.status == "open" and rid not in self._rounds:
                self._rounds[rid] = rnd
                self._spawn(self._run_round(rnd), f"round:{rid}")
            return
        rnd = self._rounds.pop(rid, None) or await self.store.get(self._key(rid))
        if rnd is None:
            return
        fields = {"status": msg.outcome, "fulfil_tx": msg.ref.tx}
        if msg.outcome == "fulfilled":
            fields["result"] = "0x" + (msg.result or b"").hex()
            fields["note"] = json.dumps({"signers": list(msg.signers), "callback_ok": msg.callback_ok})
        self.metrics.rounds.labels(fields["status"]).inc()
        await self.store.update(rnd, peer_answers=self._peer_record(rid), **fields)
        self._forget(rid)

    async def _base_fee(self) -> int:
        return int((await self.chain.w3.eth.get_block("latest")).get("baseFeePerGas", 0))

    async def _skip(self, rnd: Round, why: str) -> None:
        """Not worth the gas: no answer, no signature, no submission; the request expires and is refunded."""
        await self.store.update(rnd, status="skipped", note=why)
        self.metrics.rounds.labels("skipped").inc()
        log.info("request skipped", extra={"node": self.address, "request": rnd.request_id, "why": why})

    # ------------------------------------------------------------------ a round

    async def _run_round(self, rnd: Round) -> None:
        """Answer, seal and exchange. Started only by whoever puts the round in `_rounds` (the
        watcher or `_resume`, each checking first): two tasks would each sign a seal, and two seals
        from one node are slashable."""
        rid = rnd.request_id
        retry = self.settings.backoff
        while True:
            try:
                mine = self._own(rid)
                if mine is None:
                    if time.time() > rnd.deadline:
                        await self.store.update(rnd, status="expired")
                        return
                    if await self._closed_onchain(rnd):  # seen late (catching up): nothing to answer
                        return
                    mine = await self._evaluate(rnd)
                    if mine is None:
                        return
                break
            except ModelUnavailable as e:  # the server, not this prompt (that is a verdict): try again until the deadline
                await self.store.update(rnd, note=f"model unavailable: {e}")
                log.warning("model unavailable; retrying", extra={"node": self.address, "request": rid, "retry_in": retry})
                if rid not in self._rounds or time.time() + retry > rnd.deadline:
                    return
                await asyncio.sleep(retry)
                retry = min(retry * 2, 30.0)
        await self.peers.broadcast(mine if mine.unanswerable else mine.commit_only())  # the seal only: nothing to copy
        for a in await self.peers.fetch(rid):  # seals (and reveals) that arrived before we were listening
            await self._accept(a)
        await self._progress(rnd)

    async def _progress(self, rnd: Round) -> None:
        """Reveal once a quorum of seals is held (once), then try to settle."""
        rid = rnd.request_id
        ex = self._sealed.get(rid)
        if ex is not None and ex.ready and rid not in self._release_at:  # a quorum of seals, not all: grace, then reveal
            self._release_at.add(rid)
            self._spawn(self._release_after_grace(rnd, ex), f"reveal:{rid}")
        if ex is not None and ex.may_reveal is not None and rid not in self._reveal_sent:
            self._reveal_sent.add(rid)
            await self.peers.notify_revealed(rid, self.url)  # never the value itself: peers fetch it as themselves
            for a in await self.peers.fetch(rid):  # reveals of peers that revealed before us
                await self._accept(a)
        await self._maybe_submit(rnd)

    async def _release_after_grace(self, rnd: Round, ex: SealedRound) -> None:
        await asyncio.sleep(self.settings.reveal_grace)
        ex.release()
        await self._progress(rnd)

    def _own(self, rid: int) -> SignedAnswer | None:
        ex = self._sealed.get(rid)
        if ex is not None and ex.mine is not None:
            return ex.mine
        return next((a for a in self.aggregator.held(rid) if a.signer == self.address), None)

    async def _exchange(self, rnd: Round) -> SealedRound:
        rid = rnd.request_id
        if rid not in self._sealed:
            nodes, rule = await self._registry_view(), await self._rule(rid)
            # another task may have opened it meanwhile: replacing it would lose what it holds
            self._sealed.setdefault(rid, SealedRound(_hex(rnd.commitment), self.address, nodes, rule.quorum))
        return self._sealed[rid]

    def _forget(self, rid: int) -> None:
        self.aggregator.forget(rid)
        self._sealed.pop(rid, None)
        self._reveal_sent.discard(rid)
        self._release_at.discard(rid)

    async def _evaluate(self, rnd: Round) -> SignedAnswer | None:
        kind, options = Kind(rnd.kind), _hex(rnd.options)
        pre = await self.model.preimage()
        model_id = _hex(model_id_of(pre))
        await self.store.note_model("0x" + model_id.hex(), pre)
        pinned = _hex(rnd.pinned_model) if rnd.pinned_model else bytes(32)
        if pinned != bytes(32) and pinned != model_id:
            return await self._refuse(rnd, Reason.MODEL_NOT_SERVED, model_id, "request pins a model this node does not serve")
        if not rnd.prompt_readable:
            return await self._refuse(rnd, Reason.PROMPT_REJECTED, model_id, "the prompt is not valid UTF-8")
        try:
            msgs = [SystemMessage(c) if r == "system" else HumanMessage(c) for r, c in prompt_messages(rnd.prompt, kind, options)]
            schema = answer_schema(kind, options)
        except BadValue as e:
            return await self._refuse(rnd, Reason.BAD_OPTIONS, model_id, str(e))
        try:
            out = await self.model.decide(msgs, schema, schema_name="answer")
        except ModelRefused as e:  # this prompt, not the server: every node will see the same
            return await self._refuse(rnd, Reason.PROMPT_TOO_LONG if e.too_long else Reason.PROMPT_REJECTED, model_id, str(e))
        try:
            value = self.decide_value(kind, out.value.get("answer"), options)
        except BadValue as e:
            return await self._refuse(rnd, Reason.MODEL_ERROR, model_id, f"model output is no valid answer: {e}", out.text)
        answer = self.sign(rnd.request_id, _hex(rnd.commitment), value, model_id)
        # stored before any peer can see the seal: a restart resumes with this salt, since a second,
        # different seal for the request would be slashable as equivocation
        await self.store.update(rnd, status="answered", model_id="0x" + model_id.hex(), model_output=out.text,
                                my_answer={"value": "0x" + answer.value.hex(), "model_id": "0x" + model_id.hex(),
                                           "salt": "0x" + answer.salt.hex(), "seal": "0x" + answer.seal.hex(),
                                           "signature": "0x" + answer.signature.hex(), "readable": readable(kind, value, options)})
        (await self._exchange(rnd)).commit_own(answer)
        return answer

    async def _refuse(self, rnd: Round, reason: Reason, model_id: bytes, why: str, output: str | None = None) -> SignedAnswer:
        """Sign that this request cannot be answered, with the reason; a quorum of these settles it."""
        verdict = sign_verdict(self.wallet, self.domain, rnd.request_id, _hex(rnd.commitment), reason, model_id)
        self.aggregator.add(verdict)
        await self.store.update(rnd, status="answered", model_id="0x" + model_id.hex(), model_output=output, note=why[:500],
                                my_answer={"value": "0x", "model_id": "0x" + model_id.hex(), "reason": int(reason),
                                           "signature": "0x" + verdict.signature.hex(), "readable": f"unanswerable: {reason.name.lower()}"})
        log.info("request unanswerable", extra={"node": self.address, "request": rnd.request_id, "reason": reason.name, "why": why[:200]})
        return verdict

    # the two seams a node operator (or a fault-injecting test) may override
    def decide_value(self, kind: Kind, raw, options: bytes) -> bytes:
        return encode_answer(kind, raw, options)

    def sign(self, request_id: int, commitment: bytes, value: bytes, model_id: bytes) -> SignedAnswer:
        return sign_answer(self.wallet, self.domain, request_id, commitment, value, model_id)

    # ------------------------------------------------------------------ peers

    async def receive(self, a: SignedAnswer, peer: str) -> None:
        """An answer from an authenticated peer. Raises Rejected: not its own answer, a request
        this node has not seen pending, a bad signature or commitment."""
        if a.signer.lower() != peer.lower():
            raise Rejected(403, "a peer posts only its own answer")
        self._pending(a.request_id)
        await self._accept(a, strict=True)
        rnd = self._rounds.get(a.request_id)
        if rnd is not None and rnd.my_answer is not None:
            self._spawn(self._progress(rnd), f"submit:{a.request_id}")

    async def revealed(self, request_id: int, url: str, peer: str) -> None:
        """A peer says it has revealed: fetch what it lets this node see (its reveal, if it holds
        this node's seal), from that url if it is a configured peer, else from every peer."""
        rnd = self._pending(request_id)  # (the peer guard has checked that `peer` is a registered node)
        self._spawn(self._fetch_reveals(rnd, url), f"fetch:{request_id}")

    async def _fetch_reveals(self, rnd: Round, url: str) -> None:
        for a in await self.peers.fetch(rnd.request_id, url):
            await self._accept(a)
        if rnd.my_answer is not None:
            await self._progress(rnd)

    async def _accept(self, a: SignedAnswer, strict: bool = False) -> bool:
        signer = recover_signer(self.domain, a)
        if signer is None or signer.lower() != a.signer.lower():
            if strict:
                raise Rejected(401, "signature does not recover to the claimed signer for this request and domain")
            return False
        rnd = self._rounds.get(a.request_id)
        if rnd is not None and rnd.commitment and _hex(rnd.commitment) != a.commitment:
            if strict:
                raise Rejected(409, "signed over another commitment than this request's")
            return False
        nodes = await self._registry_view()
        if signer not in nodes:
            if strict:
                raise Rejected(403, f"{signer} is not a registered node of this oracle")
            return False
        a = replace(a, signer=signer)
        if a.unanswerable:
            return self.aggregator.add(a)
        if a.revealed and not a.reveal_matches():
            if strict:
                raise Rejected(422, "the revealed answer does not open its signed seal")
            return False
        if rnd is None:
            return False
        ex = await self._exchange(rnd)
        v = ex.add(a)
        while ex.evidence:  # two different signed seals from one node: anyone may slash it; we do
            first, second = ex.evidence.pop()
            self._spawn(self._slash(rnd, first, second), f"slash:{a.request_id}")
        return v.kept

    def _pending(self, request_id: int) -> Round:
        rnd = self._rounds.get(request_id)
        if rnd is None or rnd.status not in ("open", "answered", "submitted") or time.time() > rnd.deadline:
            raise Rejected(404, f"request {request_id} is not pending at this node")
        return rnd

    def _held(self, request_id: int, peer: str) -> list[SignedAnswer]:
        self._pending(request_id)
        ex = self._sealed.get(request_id)
        return self.aggregator.held(request_id) + (ex.served(peer) if ex else [])

    async def _is_member(self, address: str) -> bool:
        return address in await self._registry_view()

    async def expire(self) -> None:
        """Forget rounds past their deadline: their answers are no longer served or kept."""
        now = time.time()
        for rid, rnd in list(self._rounds.items()):
            if now > rnd.deadline and rid not in self._submitting:
                self._rounds.pop(rid, None)
                self._forget(rid)
                if rnd.status in ("open", "answered"):
                    await self.store.update(rnd, status="expired")
                    self.metrics.rounds.labels("expired").inc()

    async def _registry_view(self) -> list[str]:
        at, nodes = self._registry
        if time.monotonic() - at > 2.0:
            self._registry = (time.monotonic(), list(await self.contract.functions.nodes().call()))
        return self._registry[1]

    async def _rule(self, request_id: int) -> SettleRule:
        """What settles the request (stored with it onchain): its epoch's quorum, f, families."""
        if request_id not in self._rules:
            r = await self.contract.functions.requests(request_id).call()
            self._rules[request_id] = SettleRule(int(r[QUORUM]), int(r[F]), int(r[MIN_FAMILIES]))
        return self._rules[request_id]

    def _peer_record(self, rid: int) -> dict:
        """The peers' entries: verdicts, counted reveals, and seals never (or not yet) revealed."""
        ex = self._sealed.get(rid)
        held = self.aggregator.held(rid) + ([ex.revealed.get(s, e) for s, e in ex.sealed.items()] if ex else [])
        return {a.signer: {"value": "0x" + a.value.hex(), "model_id": "0x" + a.model_id.hex(),
                           **({"reason": a.reason} if a.reason else {}), **({} if a.unanswerable or a.revealed else {"sealed_only": True})}
                for a in held if a.signer != self.address}

    # ------------------------------------------------------------------ submission

    async def _maybe_submit(self, rnd: Round) -> None:
        rid = rnd.request_id
        if rid in self._submitting or rnd.status not in ("open", "answered"):
            return
        nodes, rule = await self._registry_view(), await self._rule(rid)
        pinned = _hex(rnd.pinned_model) if rnd.pinned_model and int(rnd.pinned_model, 16) else None
        answers = self._settlement(rnd, rule, pinned)
        if answers is None:
            await self._note_families(rnd, rule, pinned)
            return
        self._submitting.add(rid)
        try:
            rank = self._rank(rid, nodes)
            if rank:
                await asyncio.sleep(rank * self.settings.backoff)
            else:
                await self._await_reveals(rid)
            answers = self._settlement(rnd, rule, pinned) or answers
            await self._submit(rnd, answers)
        finally:
            self._submitting.discard(rid)

    async def _await_reveals(self, rid: int) -> None:
        """Give every node whose seal counted up to the reveal grace to reveal, so the report pays it too."""
        ex, end = self._sealed.get(rid), time.monotonic() + self.settings.reveal_grace
        while ex is not None and ex.unrevealed(self._barred) and time.monotonic() < end:
            await asyncio.sleep(0.05)

    def _rank(self, rid: int, nodes: list[str]) -> int:
        ex = self._sealed.get(rid)
        return submission_rank(rid, nodes, self.address, ex.counted if ex is not None and ex.mine is not None else None)

    def _settlement(self, rnd: Round, rule: SettleRule, pinned: bytes | None) -> list[SignedAnswer] | None:
        """Reveals that settle it under `rule`, else a quorum of unanswerable verdicts, else None."""
        commitment = _hex(rnd.commitment)
        ex = self._sealed.get(rnd.request_id)
        return ((ex.report(Kind(rnd.kind), rule, pinned, self._barred) if ex else None)
                or self.aggregator.verdict_set(rnd.request_id, rule.quorum, commitment))

    async def _note_families(self, rnd: Round, rule: SettleRule, pinned: bytes | None) -> None:
        """Say why a quorum that agrees is not submitted: it spans too few model families."""
        ex = self._sealed.get(rnd.request_id)
        if rule.min_families > 1 and ex is not None and ex.report(Kind(rnd.kind), rule.quorum, pinned, self._barred):
            note = f"a quorum agrees but spans fewer than the {rule.min_families} model families the request requires: waiting"
            if rnd.note != note:
                await self.store.update(rnd, note=note)

    async def _submit(self, rnd: Round, answers: list[SignedAnswer]) -> bool:
        """Send the report; False when it would not settle now (a later reveal tries again)."""
        rid = rnd.request_id
        if await self._request_status(rid) != PENDING:
            return True  # someone else settled it (or it was cancelled): the watcher records that
        while sender := await self._fulfil_in_flight(rid):  # back off while another node's fulfil is in the mempool
            await self.store.update(rnd, note=f"a fulfil for this request from {sender} is pending: not submitting a second")
            await asyncio.sleep(self.settings.backoff)
            if time.time() > rnd.deadline or await self._request_status(rid) != PENDING:
                return True  # it landed (the watcher records it) or the request is over
        if not answers[0].unanswerable and (answers := await self._signing(rnd, answers)) is None:
            return False
        fn = "settleUnanswerable" if answers[0].unanswerable else "fulfill"
        report = [a.as_tuple() for a in answers] if answers[0].unanswerable else fulfil_report(answers)
        data = self.contract.encode_abi(fn, args=[rid, report])
        tx = {"to": self.contract.address, "data": data}
        sim = await self.chain.simulate({"from": self.address, **tx})
        if not sim.ok:
            await self.store.update(rnd, note=f"fulfil would fail: {sim.error}")
            return await self._request_status(rid) != PENDING
        prepared = await self.chain.prepare(tx, self.address, sim.gas, extra=50_000)  # the consumer's callback varies

        async def record(st: SignedTx) -> None:
            await self.store.update(rnd, status="submitted", submit_tx=st.hash, submit_raw=st.raw, submit_nonce=st.nonce,
                                    peer_answers=self._peer_record(rid))

        try:
            signed = await self.chain.send(self.wallet, prepared, before_broadcast=record)
        except ConciliumError as e:
            await self.store.update(rnd, note=f"submit failed: {e}")
            return True  # it may have reached the mempool: never a second fulfil of our own
        log.info("fulfil submitted", extra={"node": self.address, "request": rid, "tx": signed.hash, "signers": len(answers)})
        await self._settle_submission(rnd)
        return True

    async def _signing(self, rnd: Round, answers: list[SignedAnswer]) -> list[SignedAnswer] | None:
        """The report without entries of nodes that can no longer sign for the request's epoch (the
        contract would neither count nor pay them: leaving them out saves gas and shows whether the
        rest settles), or None if what is left does not settle it. Checked anew for each report,
        since a node that unbonded may stake again; a node this one slashed stays out."""
        epoch = int((await self.contract.functions.requests(rnd.request_id).call())[EPOCH])
        self._barred = set(self._slashed)
        for a in answers:
            if a.signer not in self._barred and not await self.contract.functions.isSignerOf(a.signer, epoch).call():
                self._barred.add(a.signer)
        if not any(a.signer in self._barred for a in answers):
            return answers
        pinned = _hex(rnd.pinned_model) if rnd.pinned_model and int(rnd.pinned_model, 16) else None
        kept = self._settlement(rnd, await self._rule(rnd.request_id), pinned)
        if kept is None:
            await self.store.update(rnd, note="too few entries of nodes still allowed to sign to settle")
        return kept

    async def _slash(self, rnd: Round, first: SignedAnswer, second: SignedAnswer) -> None:
        """Report a node that signed two different seals for one request (once per node)."""
        if first.signer in self._slashed:
            return
        self._slashed.add(first.signer)
        self._barred.add(first.signer)
        data = self.contract.encode_abi("slash", args=[slash_evidence(first), slash_evidence(second)])
        try:
            receipt = await self.chain.transact(self.wallet, {"to": self.contract.address, "data": data}, "the slash")
        except ConciliumError as e:  # already slashed by another reporter, or not slashable: nothing lost
            await self.store.update(rnd, note=f"slash of {first.signer} not sent: {e}")
            return
        log.warning("node slashed for double-signing", extra={"node": self.address, "slashed": first.signer,
                                                              "request": rnd.request_id, "tx": HexBytes(receipt["transactionHash"]).to_0x_hex()})
        await self.store.update(rnd, note=f"slashed {first.signer} for two different signed seals")

    async def _fulfil_in_flight(self, request_id: int) -> str | None:
        """The sender of another node's pending (mempool) fulfil or settle for this request, if any is seen."""
        return next((c.sender for c in await pending_calls(self.chain, self.contract)
                     if c.function in ("fulfill", "settleUnanswerable") and int(c.args.get("requestId", -1)) == request_id
                     and c.sender.lower() != self.address.lower()), None)

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
        ok = receipt["status"] == 1
        events = self.contract.events.Fulfilled().process_receipt(receipt, errors=DISCARD) if ok else []
        verdicts = self.contract.events.Unanswered().process_receipt(receipt, errors=DISCARD) if ok else []
        if events:
            fields.update(status="fulfilled", result="0x" + bytes(events[0]["args"]["result"]).hex(),
                          note=json.dumps({"signers": list(events[0]["args"]["signers"]), "callback_ok": bool(events[0]["args"]["callbackOk"])}))
        elif verdicts:
            fields.update(status="unanswerable", note=json.dumps({"signers": list(verdicts[0]["args"]["signers"]),
                                                                  "reasons": list(verdicts[0]["args"]["reasons"])}))
        else:
            fields["note"] = "our fulfil reverted (another node was first)"
        await self.store.update(rnd, **fields)


def _hex(text: str | None) -> bytes:
    return bytes.fromhex(text[2:]) if text else b""
