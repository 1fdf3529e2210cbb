"""A committee member: one process with its own key, model, state and peer endpoint.

On each schedule slot it runs one round (`CommitteeRound`): plan its own decision and check it
with its own guard; commit (a hash of decision, salt, member, Safe, round) to its peers; reveal
once the commitments are in (or the phase deadline passes); canonicalise the reveals; when k agree
on an action that sends, build the Safe's call, judge it with its own guard again (a member never
signs what its own policy refuses), sign the SafeTx and exchange signatures; then the leader (by
round id) submits `execTransaction` and the others submit after a back-off if no ExecutionSuccess
appeared (`Safe.execute` is idempotent per SafeTx). A disagreement, a missing quorum or a refusal
records every vote and reason and sends nothing. Every stage is written to the member's store.

The agent side (planning, building the call, judging it) is a `MemberAgent`: `AgentMember`
(concilium.committee.agent_member) runs the agent's spec with its model and policy guard; tests
and the demo may inject decisions (`ScriptedAgent`) for the protocol alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from eth_utils import keccak, to_checksum_address

from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet
from concilium.committee.canonical import NOOP, ToolRule, Vote, canonicalise
from concilium.committee.inbox import Held, Inbox
from concilium.committee.metrics import MemberMetrics
from concilium.committee.messages import Commit, Reveal, SafeSignature, commitment, new_salt, round_id, slot_of
from concilium.committee.peers import MAX_BODY, MemberClient, member_app, realm
from concilium.committee.round import CommitteeRound, RoundEvent, RoundState, reveal_event
from concilium.committee.safe import Safe
from concilium.committee.safetx import SafeTx
from concilium.committee.signatures import OwnerSignature, recover, sign
from concilium.committee.store import CommitteeStore
from concilium.errors import CommitteeError
from concilium.httpserver import HttpServer
from concilium.peering.guard import PeerGuard

log = logging.getLogger("concilium.committee")
E = RoundEvent


@dataclass(frozen=True)
class Call:
    """What the Safe would call for an agreed action."""

    to: str
    value: int = 0
    data: bytes = b""
    summary: str = ""


@dataclass(frozen=True)
class Plan:
    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    model_id: str = ""


class MemberAgent(Protocol):
    async def plan(self, round_id: str) -> Plan: ...
    async def build(self, action: str, args: Mapping[str, Any]) -> Call: ...
    async def judge(self, action: str, args: Mapping[str, Any]) -> str | None:
        """Why this member's own policy refuses the Safe taking this action, or None."""


@dataclass(frozen=True)
class MemberSettings:
    safe: str
    members: tuple[str, ...]        # every member's address, this one included
    peers: tuple[str, ...]          # the other members' peer URLs
    threshold: int
    host: str = "127.0.0.1"
    port: int = 0
    schedule: float = 60.0
    phase_timeout: float = 10.0
    submit_backoff: float = 5.0
    rules: Mapping[str, ToolRule] = field(default_factory=dict)


def submit_order(rid: str, members: tuple[str, ...]) -> list[str]:
    """Who submits first, second, ... in round `rid` (every member computes the same order)."""
    return sorted(members, key=lambda m: keccak(f"{rid}:{m}".encode()))


class CommitteeMember:
    def __init__(self, settings: MemberSettings, wallet: Wallet, chain: ChainClient, agent: MemberAgent, store: CommitteeStore):
        self.settings, self.wallet, self.chain, self.agent, self.store = settings, wallet, chain, agent, store
        self.me = wallet.address
        self.members = tuple(to_checksum_address(m) for m in settings.members)
        if self.me not in self.members:
            raise CommitteeError(f"{self.me} is not one of the committee's members")
        self.safe = Safe(chain, settings.safe)
        self.inbox = Inbox(self.safe.address, set(self.members), self.slot_now)
        self.server: HttpServer | None = None
        self.client: MemberClient | None = None
        self._ticker: asyncio.Task | None = None
        self.last: CommitteeRound | None = None
        self.metrics = MemberMetrics()

    def slot_now(self) -> int:
        return slot_of(time.time(), self.settings.schedule)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    async def start(self, tick: bool = False) -> "CommitteeMember":
        chain_id = await self.chain.chain_id()
        members = set(self.members)

        async def is_member(addr: str) -> bool:
            return addr in members

        guard = PeerGuard(realm(chain_id, self.safe.address), is_member, max_body=MAX_BODY)
        app = member_app(guard, self.inbox.receive, self.health, self.metrics.render,
                         lambda limit: self.store.export(self.safe.address, self.me, limit))
        self.server = await HttpServer(app, self.settings.host, self.settings.port, "committee member").start()
        self.client = MemberClient(guard.realm, self.wallet, list(self.settings.peers), timeout=self.settings.phase_timeout)
        if tick:
            self._ticker = asyncio.create_task(self._tick_forever())
        return self

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self.server is not None:
            await self.server.stop()
        if self.client is not None:
            await self.client.close()

    def health(self) -> dict:
        last = self.last
        return {"member": self.me, "safe": self.safe.address,
                "last_round": None if last is None else {"round_id": last.round_id, "state": str(last.state)}}

    async def _tick_forever(self) -> None:
        every = self.settings.schedule
        while True:
            await asyncio.sleep(every - time.time() % every)
            try:
                await self.run_round()
            except Exception:  # a round's failure is recorded; the member keeps ticking
                log.exception("committee round failed", extra={"member": self.me})

    # ------------------------------------------------------------------ one round

    async def run_round(self, slot: int | None = None) -> CommitteeRound:
        slot = self.slot_now() if slot is None else slot
        nonce = await self.safe.nonce()
        rnd = CommitteeRound(round_id(nonce, slot), self.me, nonce)
        if self.me in self.inbox.held(rnd.round_id).commits:
            raise CommitteeError(f"round {rnd.round_id} was already run by this member; one round per slot and nonce")
        since = await self.chain.w3.eth.block_number
        started = time.perf_counter()
        self.inbox.start(rnd.round_id)
        try:
            rnd = await self._commit_reveal(rnd)
            if rnd.state is RoundState.SIGNING:
                rnd = await self._sign_and_submit(rnd, since)
        finally:
            self.inbox.finish(rnd.round_id)
        self.last = rnd
        self.metrics.record(rnd, time.perf_counter() - started)
        return rnd

    async def _record(self, rnd: CommitteeRound, signatures: dict[str, str] | None = None) -> CommitteeRound:
        await self.store.record(self.safe.address, rnd, signatures)
        self.last = rnd
        return rnd

    async def _own_vote(self, rid: str) -> Vote:
        try:
            plan = await self.agent.plan(rid)
        except Exception as e:  # the model is down, bad output: this member votes to do nothing, with why
            return Vote(self.me, NOOP, {}, f"could not plan: {str(e)[:300]}")
        if plan.action != NOOP:
            refusal = await self.agent.judge(plan.action, plan.args)
            if refusal:
                return Vote(self.me, NOOP, {}, f"own guard refused {plan.action}: {refusal}"[:1000], plan.model_id)
        return Vote(self.me, plan.action, dict(plan.args), plan.reason, plan.model_id)

    async def _commit_reveal(self, rnd: CommitteeRound) -> CommitteeRound:
        s, rid, n = self.settings, rnd.round_id, len(self.members)
        vote = await self._own_vote(rid)
        salt = new_salt()
        reveal = Reveal.of(rid, vote, salt)
        commit = Commit(round_id=rid, member=self.me, commitment="0x" + commitment(self.safe.address, rid, reveal.vote(), salt).hex())
        await self.inbox.receive(commit)
        rnd = await self._record(rnd.advance(E.DECIDED, facts={"own_vote": {"action": vote.action, "reason": vote.reason}}))
        await self.client.send(commit)
        held = await self.inbox.wait(rid, lambda h: len(h.commits) >= n, s.phase_timeout)
        if len(held.commits) < s.threshold:
            return await self._record(rnd.advance(E.TIMEOUT, reason=f"no quorum: {len(held.commits)} of {n} members committed, "
                                                  f"{s.threshold} needed"))
        rnd = rnd.advance(E.COMMITS_IN)
        committed = set(held.commits)
        await self.inbox.receive(reveal)
        await self.client.send(reveal)
        held = await self.inbox.wait(rid, lambda h: set(h.reveals) >= committed, s.phase_timeout)
        agreement = canonicalise([r.vote() for r in held.reveals.values()], list(self.members), s.threshold, s.rules)
        event = reveal_event(agreement)
        why = {E.TIMEOUT: f"no quorum: {len(held.reveals)} of {n} members revealed, {s.threshold} needed",
               E.DISAGREED: f"no action backed by {s.threshold} members ({agreement.outcome})",
               E.AGREED_NOOP: "agreed to do nothing", E.AGREED: f"agreed: {agreement.action}"}[event]
        return await self._record(rnd.advance(event, agreement=agreement, reason=why))

    def _valid_signatures(self, held: Held, digest: bytes) -> list[OwnerSignature]:
        out = []
        for member, m in held.signatures.items():
            sig = bytes.fromhex(m.signature[2:])
            if m.safe_tx_hash.lower() == "0x" + digest.hex() and recover(digest, sig) == member:
                out.append(OwnerSignature(member, sig))
        return out

    async def _sign_and_submit(self, rnd: CommitteeRound, since: int) -> CommitteeRound:
        s, a = self.settings, rnd.agreement
        refusal = await self.agent.judge(a.action, a.args)
        if not refusal:
            try:
                call = await self.agent.build(a.action, a.args)
            except ValueError as e:
                refusal = str(e)
        if refusal:
            return await self._record(rnd.advance(E.POLICY_REFUSED, reason=f"own guard refuses the agreed action: {refusal}"[:1000]))
        tx = SafeTx(to=call.to, value=call.value, data=call.data, nonce=rnd.safe_nonce)
        digest = await self.safe.digest(tx)
        mine = sign(self.wallet, digest)
        msg = SafeSignature(round_id=rnd.round_id, member=self.me, safe_tx_hash="0x" + digest.hex(), signature="0x" + mine.signature.hex())
        await self.inbox.receive(msg)
        await self.client.send(msg)
        held = await self.inbox.wait(rnd.round_id, lambda h: len(self._valid_signatures(h, digest)) >= s.threshold, s.phase_timeout)
        sigs = self._valid_signatures(held, digest)
        recorded = {o.owner: "0x" + o.signature.hex() for o in sigs}
        rnd = rnd.advance(E.SIGNATURES_IN, safe_tx_hash="0x" + digest.hex(), signers=tuple(o.owner for o in sigs)) \
            if len(sigs) >= s.threshold else rnd
        if rnd.state is RoundState.SIGNING:  # short of signatures: a peer may still have executed it
            if done := await self.safe.execution_of(tx, since):
                return await self._record(rnd.advance(E.EXECUTED, tx_hash=done.tx_hash, safe_tx_hash=done.safe_tx_hash), recorded)
            return await self._record(rnd.advance(E.TIMEOUT, safe_tx_hash="0x" + digest.hex(),
                                                  reason=f"no quorum: {len(sigs)} valid signatures, {s.threshold} needed"), recorded)
        rnd = await self._record(rnd, recorded)
        return await self._record(await self._submit(rnd, tx, sigs, since), recorded)

    async def _submit(self, rnd: CommitteeRound, tx: SafeTx, sigs: list[OwnerSignature], since: int) -> CommitteeRound:
        """The leader submits at once; the i-th in order waits i back-offs for an execution first."""
        rank = submit_order(rnd.round_id, self.members).index(self.me)
        deadline = time.monotonic() + rank * self.settings.submit_backoff
        while time.monotonic() < deadline:
            if done := await self.safe.execution_of(tx, since):
                return rnd.advance(E.EXECUTED, tx_hash=done.tx_hash)
            await asyncio.sleep(0.25)
        try:
            done = await self.safe.execute(tx, sigs, self.wallet, since)
        except CommitteeError as e:
            event = E.NONCE_TAKEN if "nonce" in str(e) else E.SAFE_REFUSED
            return rnd.advance(event, reason=str(e)[:1000])
        return rnd.advance(E.EXECUTED, tx_hash=done.tx_hash, facts={**rnd.facts, "submitted_by_us": done.by_us, "gas_used": done.gas_used})
