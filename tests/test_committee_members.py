"""Committee members on the real stack: 4 member processes' worth (in-process, each with its own
key, chain client, store and signed peer endpoint), k=3, the audited Safe with CommitteeGuard.
Decisions are injected (`propose`-like) so the protocol is what is tested; written as the attacks:
a Byzantine member (wrong action, forged, replayed signature, silence), two silent members, the
submitter killed between signing and submitting, a colluding quorum over the onchain limit."""

from __future__ import annotations

import asyncio

import pytest
from concilium.chain.wallets import dev_wallet
from concilium.committee.agent_member import Unguarded
from concilium.committee.deploy import deploy_singletons
from concilium.committee.member import CommitteeMember, submit_order
from concilium.committee.messages import SafeSignature
from concilium.committee.network import LocalCommittee
from concilium.committee.round import RoundState
from concilium.committee.safe import SAFE_ABI
from concilium.llm.decisions import Decision
from tests.conftest import HOT, spec_from

pytestmark = pytest.mark.stack

ETH = 10**18
OUTSIDER = "0x000000000000000000000000000000000000BAd0"
KEYS = {f"m{i}": dev_wallet(i + 1, f"m{i}") for i in range(1, 5)}
DEPLOYER = dev_wallet(9)

YAML = f"""
version: 1
models: {{local: {{serve: bundled}}}}
chains: {{dev: {{rpc: embedded}}}}
wallets:
  treasury: {{dev_account: 0}}
  hot: {{dev_account: 1}}
  m1: {{dev_account: 2}}
  m2: {{dev_account: 3}}
  m3: {{dev_account: 4}}
  m4: {{dev_account: 5}}
addresses:
  hot_wallet: {{wallet: hot}}
  outsider: "{OUTSIDER}"
agents:
  - name: treasury-keeper
    model: local
    chain: dev
    wallet: treasury
    instructions: Keep the hot wallet above 5 ETH; when it is below, send 1.5 ETH to hot_wallet. Otherwise do nothing.
    observe: [{{balance: hot_wallet}}]
    tools: [send_native]
    policy: {{recipients: [hot_wallet], max_value_per_tx: 2 ether, max_value_per_day: 10 ether}}
committees:
  - name: council
    agent: treasury-keeper
    members:
      - {{name: m1, key: m1, model: local, url: "http://127.0.0.1:1"}}
      - {{name: m2, key: m2, model: local, url: "http://127.0.0.1:2"}}
      - {{name: m3, key: m3, model: local, url: "http://127.0.0.1:3"}}
      - {{name: m4, key: m4, model: local, url: "http://127.0.0.1:4"}}
    threshold: 3
    schedule: 60s
    phase_timeout: 3s
    submit_backoff: 2s
    onchain_limits: {{ETH: {{per_day: 3}}, delay: 2d}}
"""
TOP_UP = Decision(action="send_native", args={"to": "hot_wallet", "amount": 1.5}, reason="hot wallet low")
STEAL = Decision(action="send_native", args={"to": "outsider", "amount": 1.9}, reason="pay me")


@pytest.fixture(scope="module")
async def singletons(anvil):
    from concilium.chain.client import ChainClient
    chain = ChainClient([anvil.url])
    yield await deploy_singletons(chain, DEPLOYER)
    await chain.close()


@pytest.fixture
async def council(anvil, chain, singletons, tmp_path):
    spec = spec_from(YAML)
    wallets = {"treasury": dev_wallet(0), "hot": dev_wallet(1), **KEYS}
    net = await LocalCommittee.deploy(spec, "council", anvil.url, wallets, DEPLOYER, tmp_path, singletons)
    await chain.w3.provider.make_request("anvil_setBalance", [net.safe, hex(100 * ETH)])
    yield net
    await net.stop()


def same(decision, n=4):
    return {f"m{i}": (lambda rid, d=decision: _now(d)) for i in range(1, n + 1)}


async def _now(d):
    return d


async def safe_nonce(chain, safe) -> int:
    return await chain.contract(safe, SAFE_ABI).functions.nonce().call()


async def test_four_members_agree_and_exactly_one_safe_transaction_executes(chain, council):
    await council.start(decisions=same(TOP_UP))
    hot, nonce = await chain.w3.eth.get_balance(HOT), await safe_nonce(chain, council.safe)
    rounds = await council.round()
    assert all(r is not None and r.state is RoundState.EXECUTED for r in rounds), [(r.state, r.reason) for r in rounds if r]
    assert len({r.tx_hash for r in rounds}) == 1 and len({r.round_id for r in rounds}) == 1
    assert await chain.w3.eth.get_balance(HOT) == hot + 3 * ETH // 2
    assert await safe_nonce(chain, council.safe) == nonce + 1
    # the trail: every member recorded every vote, the agreed action, >= 3 signatures, the Safe tx hash
    for m in council.members:
        (rec,) = await m.store.export()
        assert rec["state"] == "executed" and rec["outcome"] == "agreed" and rec["tx_hash"] == rounds[0].tx_hash
        assert {v["member"] for v in rec["votes"]} == {k.address for k in KEYS.values()}
        assert rec["action"]["tool"] == "send_native" and len(rec["signatures"]) >= 3 and rec["safe_tx_hash"]
        assert all(v["model_id"] == "(proposed)" for v in rec["votes"])


def byzantine(kind: str):
    """A member factory injecting one fault at the boundary between the member and its peers."""

    class Byzantine(CommitteeMember):
        def __init__(self, settings, wallet, chain, agent, store):
            super().__init__(settings, wallet, chain, Unguarded(agent), store)

        async def run_round(self, slot=None):
            if kind == "silent":
                return None
            if kind == "flood":  # made-up rounds, to push the real one out of peers' memory
                from concilium.committee.messages import Commit
                s = self.slot_now() if slot is None else slot
                for i in range(40):
                    await self.client.send(Commit(round_id=f"n{900 + i}-s{s}", member=self.me, commitment="0x" + "11" * 32))
            if kind in ("forged", "replayed"):
                self.client.send = self._corrupt(self.client.send)
            return await super().run_round(slot)

        def _corrupt(self, send):
            async def corrupted(msg):
                if isinstance(msg, SafeSignature):
                    if kind == "forged":  # a signature by a key that is not this member's
                        from concilium.committee.signatures import sign
                        forged = sign(dev_wallet(7), bytes.fromhex(msg.safe_tx_hash[2:])).signature
                        msg = msg.model_copy(update={"signature": "0x" + forged.hex()})
                    else:  # its own valid signature, but over the previous nonce's SafeTx
                        msg = msg.model_copy(update={"signature": self._old_signature})
                return await send(msg)
            return corrupted

    return Byzantine


@pytest.mark.parametrize("kind", ["wrong_action", "forged", "replayed", "silent", "flood"])
async def test_one_byzantine_member_never_changes_the_outcome(chain, council, kind):
    decisions = same(TOP_UP)
    if kind == "wrong_action":
        decisions["m4"] = lambda rid: _now(STEAL)
    factories = {"m4": byzantine(kind)}
    await council.start(decisions=decisions, factories=factories)
    if kind == "replayed":  # m4's genuine signature of a SafeTx the Safe already executed at an older nonce
        from concilium.committee.signatures import sign
        from concilium.committee.safetx import SafeTx
        old = SafeTx(to=HOT, value=3 * ETH // 2, nonce=await safe_nonce(chain, council.safe) - 1)
        council.members[3]._old_signature = "0x" + sign(KEYS["m4"], await council.members[3].safe.digest(old)).signature.hex()
    hot, outsider = await chain.w3.eth.get_balance(HOT), await chain.w3.eth.get_balance(OUTSIDER)
    rounds = [r for r in await council.round() if r is not None]
    honest = rounds[:3]
    assert all(r.state is RoundState.EXECUTED for r in honest), [(r.state, r.reason) for r in honest]
    assert len({r.tx_hash for r in honest}) == 1
    assert await chain.w3.eth.get_balance(HOT) == hot + 3 * ETH // 2
    assert await chain.w3.eth.get_balance(OUTSIDER) == outsider
    rec = (await council.members[0].store.export())[0]
    m4 = KEYS["m4"].address
    if kind == "wrong_action":
        (v,) = [v for v in rec["votes"] if v["member"] == m4]
        assert v["args"]["to"] == "outsider" and not v["counted"] and v["note"] == "did not agree"
    if kind in ("forged", "replayed"):
        assert m4 not in rec["signatures"]
    if kind == "silent":
        assert rec["silent"] == [m4]
    if kind == "flood":
        assert len(council.members[0].inbox.rounds) <= 3  # the real round and at most 2 made-up ones


async def test_two_silent_members_nothing_is_sent_and_the_round_is_no_quorum(chain, council):
    await council.start(decisions=same(TOP_UP), only=["m1", "m2"])
    nonce, hot = await safe_nonce(chain, council.safe), await chain.w3.eth.get_balance(HOT)
    rounds = await council.round()
    assert [r.state for r in rounds] == [RoundState.NO_QUORUM] * 2
    assert all("no quorum: 2 of 4 members committed" in r.reason for r in rounds)
    assert await safe_nonce(chain, council.safe) == nonce and await chain.w3.eth.get_balance(HOT) == hot
    rec = (await council.members[0].store.export())[0]
    assert rec["state"] == "no_quorum" and rec["tx_hash"] is None


def killed_before_submitting(cls=CommitteeMember):
    class Killed(cls):
        async def _submit(self, rnd, tx, sigs, since):
            await self.stop()  # the process dies after its signature went out
            raise asyncio.CancelledError()
    return Killed


async def test_the_submitter_killed_between_signing_and_submitting_another_submits_exactly_once(chain, council):
    await council.start(decisions=same(TOP_UP))
    slot = council.members[0].slot_now()
    rid = f"n{await safe_nonce(chain, council.safe)}-s{slot}"
    leader = submit_order(rid, tuple(k.address for k in KEYS.values()))[0]
    await council.stop()
    names = {k.address: n for n, k in KEYS.items()}
    await council.start(decisions=same(TOP_UP), factories={names[leader]: killed_before_submitting()})
    nonce, hot = await safe_nonce(chain, council.safe), await chain.w3.eth.get_balance(HOT)
    rounds = await council.round(slot)
    alive = [r for r in rounds if r is not None]
    assert len(alive) == 3 and all(r.state is RoundState.EXECUTED for r in alive), [(r.state, r.reason) for r in alive]
    assert len({r.tx_hash for r in alive}) == 1
    assert await safe_nonce(chain, council.safe) == nonce + 1
    assert await chain.w3.eth.get_balance(HOT) == hot + 3 * ETH // 2


async def test_the_onchain_guard_refuses_a_colluding_quorum_over_the_day_limit(chain, council):
    """Three members with their own guards switched off agree on 2 x 1.9 ETH: the second exceeds
    CommitteeGuard's 3 ETH a day; the Safe refuses it and nothing more leaves."""
    big = Decision(action="send_native", args={"to": "hot_wallet", "amount": 1.9}, reason="collude")
    bad = {f"m{i}": byzantine("colluding") for i in range(1, 4)}
    await council.start(decisions=same(big, 3), factories=bad, only=["m1", "m2", "m3"])
    hot = await chain.w3.eth.get_balance(HOT)
    first = await council.round(council.members[0].slot_now())
    assert all(r.state is RoundState.EXECUTED for r in first)
    second = await council.round(council.members[0].slot_now() + 1)
    assert all(r.state is RoundState.REFUSED for r in second), [(r.state, r.reason) for r in second]
    assert any("limit" in r.reason.lower() for r in second), [r.reason for r in second]
    assert await chain.w3.eth.get_balance(HOT) == hot + 19 * ETH // 10


async def test_members_deciding_with_the_real_model_send_at_most_one_transaction(chain, council, stack):
    """Each member asks the bundled model (its own client) on its own observation; whatever the
    model says, the round ends recorded with every model id, and at most one transaction leaves."""
    from concilium.runtime import model_client
    model = await model_client(council.spec.models["local"], stack, "local")
    await chain.w3.provider.make_request("anvil_setBalance", [HOT, hex(ETH)])  # below 5 ETH: a top-up is due
    await council.start(models={"local": model})
    nonce = await safe_nonce(chain, council.safe)
    rounds = [r for r in await council.round() if r is not None]
    assert len(rounds) == 4 and all(r.done for r in rounds), [(r.state, r.reason) for r in rounds]
    assert await safe_nonce(chain, council.safe) - nonce == (1 if any(r.state is RoundState.EXECUTED for r in rounds) else 0)
    assert len({r.tx_hash for r in rounds if r.tx_hash}) <= 1
    rec = (await council.members[0].store.export())[0]
    assert len(rec["votes"]) >= 3 and all(v["model_id"].startswith("0x") for v in rec["votes"])
    assert await chain.w3.eth.get_balance(OUTSIDER) == 0


async def test_members_own_guards_refuse_a_transfer_to_an_outsider_before_committing(chain, council):
    """All four are told (injected) to pay the outsider: each member's own policy guard, judging
    the Safe's simulated flows, refuses; they vote noop with the refusal as reason; nothing leaves."""
    await council.start(decisions=same(STEAL))
    nonce = await safe_nonce(chain, council.safe)
    rounds = await council.round()
    assert [r.state for r in rounds] == [RoundState.NOOP] * 4
    rec = (await council.members[0].store.export())[0]
    assert all(v["action"] == "noop" and "own guard refused send_native: recipient" in v["reason"] for v in rec["votes"]), rec["votes"]
    assert await safe_nonce(chain, council.safe) == nonce and await chain.w3.eth.get_balance(OUTSIDER) == 0


async def test_an_honest_member_never_signs_what_its_policy_refuses_even_when_a_quorum_agreed(chain, council):
    bad = {f"m{i}": byzantine("colluding") for i in range(1, 4)}
    await council.start(decisions=same(STEAL), factories=bad)
    rounds = await council.round()
    honest = rounds[3]
    assert honest.state is RoundState.REFUSED and "own guard refuses the agreed action: recipient" in honest.reason
    assert honest.safe_tx_hash is None  # it signed nothing
    assert all(r.state is RoundState.REFUSED for r in rounds[:3])  # and CommitteeGuard refused the colluders' call
    assert await chain.w3.eth.get_balance(OUTSIDER) == 0


async def test_a_member_serves_its_trail_and_metrics_but_peers_only_with_signatures(chain, council):
    import httpx
    await council.start(decisions=same(TOP_UP))
    await council.round()
    m = council.members[0]
    async with httpx.AsyncClient() as http:
        rounds = (await http.get(m.url + "/rounds")).json()
        assert rounds[0]["state"] == "executed" and len(rounds[0]["votes"]) == 4
        text = (await http.get(m.url + "/metrics")).text
        assert 'concilium_committee_rounds_total{state="executed"} 1.0' in text
        # an unsigned commit, and one signed by an outsider's key for this committee, are refused
        body = b'{"round_id": "n1-s1", "member": "%s", "commitment": "0x%s"}' % (m.me.encode(), b"00" * 32)
        assert (await http.post(m.url + "/v1/commits", content=body, headers={"content-type": "application/json"})).status_code == 401
    from concilium.committee.peers import MemberClient
    from concilium.committee.messages import Commit
    outsider = MemberClient(council.members[1].client.signed.realm, dev_wallet(7), [m.url])
    try:
        assert await outsider.send(Commit(round_id=f"n1-s{m.slot_now()}", member=dev_wallet(7).address, commitment="0x" + "00" * 32)) == 0
        # a member speaking for another member is refused too
        other = MemberClient(council.members[1].client.signed.realm, KEYS["m2"], [m.url])
        assert await other.send(Commit(round_id=f"n1-s{m.slot_now()}", member=KEYS["m3"].address, commitment="0x" + "00" * 32)) == 0
        await other.close()
    finally:
        await outsider.close()


async def test_the_service_api_shows_committee_rounds(chain, council, stack, tmp_path):
    import httpx

    from concilium.service.service import AgentService
    from concilium.spec import ApiSpec
    await council.start(decisions=same(TOP_UP))
    (first, *_) = await council.round()
    spec = council.spec.model_copy(update={"api": ApiSpec(port=0)})
    async with AgentService.open(spec, stack=stack, state_dir=council.state_dir) as svc:
        async with httpx.AsyncClient(base_url=svc.api_server.url) as http:
            rounds = (await http.get("/committees/council/rounds")).json()
            assert {r["member_name"] for r in rounds} == {"m1", "m2", "m3", "m4"}
            assert all(r["tx_hash"] == first.tx_hash and r["state"] == "executed" for r in rounds)
            assert (await http.get("/committees/council/rounds", params={"member": "m2"})).json()[0]["member_name"] == "m2"
            assert (await http.get("/committees/nope/rounds")).status_code == 404
