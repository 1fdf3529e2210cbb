"""Oracle incentives, node side, on the real stack (anvil, the compiled AgentOracle, the bundled
model through vLLM), written as the attacks: a request that pays nothing or too little, a lazy
node that copies revealed answers instead of running a model, a node that signs two different
seals, a second fulfil while one is already in the mempool. Payouts are read from the contract."""

import asyncio
import time
from dataclasses import replace

import pytest
from eth_abi import encode

from concilium.chain.wallets import dev_wallet
from concilium.llm.client import ModelClient
from concilium.llm.provenance import model_id_of
from concilium.oracle.client import OracleClient, OracleTimeout
from concilium.oracle.network import LOCAL_STAKE, LocalOracleNetwork, node_wallet
from concilium.oracle.node import OracleNode
from concilium.oracle.params import LOCAL_PARAMS
from concilium.oracle.signing import Domain, sign_answer
from concilium.oracle.store import Round
from concilium.stack.model import BUNDLED_NAME

FEE = 3 * 10**15
FREE_PARAMS = replace(LOCAL_PARAMS, premium=0)  # no premium: a request priced at gas price 0 may pay nothing
BOND, AGREED, SLASHED, ANSWERED = 0, 4, 5, 3  # fields of IAgentOracle.NodeInfo
QUESTION = "Is Paris the capital of France? Answer true or false."


class Copier(OracleNode):
    """Runs no model: asks its peers for their answers until it sees revealed values (fetching
    as itself, and reading whatever they send it), then seals and reveals the majority value and
    races to transmit. Peers serve revealed values only to nodes whose seal they held before
    revealing, so it should never see one; `saw_seals` shows it was in the exchange all along."""

    copied = saw_seals = 0

    async def _evaluate(self, rnd):
        model_id = bytes.fromhex(model_id_of(await self.model.preimage())[2:])
        rid = rnd.request_id
        for _ in range(300):
            seen = await self.peers.fetch(rid)
            ex = self._sealed.get(rid)
            seen += list(ex.sealed.values()) + list(ex.revealed.values()) if ex is not None else []
            self.saw_seals = max(self.saw_seals, len({a.signer for a in seen}))
            revealed = [a for a in seen if a.revealed and a.reveal_matches()]
            if revealed:
                value = max({a.value for a in revealed}, key=lambda v: sum(a.value == v for a in revealed))
                answer = self.sign(rid, bytes.fromhex(rnd.commitment[2:]), value, model_id)
                (await self._exchange(rnd)).commit_own(answer)
                await self.store.update(rnd, status="answered", model_id="0x" + model_id.hex())
                self.copied += 1
                return answer
            await asyncio.sleep(0.1)
        return None


class DoubleSigner(OracleNode):
    """Before its real seal, sends its peers a second, different signed seal for the same request."""

    async def _run_round(self, rnd):
        model_id = bytes.fromhex(model_id_of(await self.model.preimage())[2:])
        other = self.sign(rnd.request_id, bytes.fromhex(rnd.commitment[2:]), encode(["bool"], [False]), model_id)
        await self.peers.broadcast(other.commit_only())
        await super()._run_round(rnd)

    async def _slash(self, rnd, first, second):
        """It does not report itself (self-reporting recovers at most half the stake: the forge
        attack tests); here the question is whether an honest node catches it."""
        if first.signer != self.address:
            await super()._slash(rnd, first, second)


@pytest.fixture(scope="module")
async def model(vllm):
    return ModelClient(vllm.url, BUNDLED_NAME)


def with_nodes(net, byzantine: dict):
    for i, cls in byzantine.items():
        old = net.nodes[i]
        net.nodes[i] = cls(old.settings, old.wallet, old.chain, old.model, old.store)
    return net


# Runs before the module's lazy_net exists: both networks' nodes use the same keys (node_wallet(i)),
# and two live nodes on one key race each other's nonces.
async def test_a_node_that_signs_two_different_seals_is_slashed_by_an_honest_node(anvil, model, chain, tmp_path):
    net = with_nodes(await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", backoff=1.0), {2: DoubleSigner})
    await net.start()
    try:
        c = net.nodes[0].contract
        bad = net.nodes[2].address
        honest = [n for n in net.nodes if n.address != bad]
        credit0 = {n.address: int(await c.functions.credits(n.address).call()) for n in honest}
        client = OracleClient(chain, net.oracle, dev_wallet(8))
        # a numeric kind: it settles on any quorum of honest observations (a yes/no needs the three
        # honest nodes to agree, and a 135M model at temperature 0 flips now and then under batching)
        req = await client.request("How many legs does a spider have?", "uint", fee=FEE, timeout=60)
        result = await req.result(timeout=120)  # the honest nodes still settle, without the slashed node's entry
        assert bad not in result.signers
        info = await c.functions.nodeInfo(bad).call()
        assert info[SLASHED] == 1 and info[BOND] == 3  # Bond.Slashed, counter 1
        [slashed] = await c.events.Slashed().get_logs(from_block=req.block)
        reporter = slashed["args"]["reporter"]
        assert slashed["args"]["node"] == bad and reporter in credit0 and slashed["args"]["reward"] == LOCAL_STAKE // 2
        assert int(await c.functions.credits(reporter).call()) - credit0[reporter] >= LOCAL_STAKE // 2  # the reporter is paid
        assert int(await c.functions.credits(bad).call()) == 0  # and earned nothing for the round
    finally:
        await net.stop()


@pytest.fixture(scope="module")
async def lazy_net(anvil, model, tmp_path_factory):
    """Three honest nodes and a copier (node 3); every node's fee floor is FEE."""
    net = await LocalOracleNetwork.deploy(anvil.url, model, tmp_path_factory.mktemp("lazy"), params=FREE_PARAMS, backoff=1.0,
                                          fee_floor_wei=FEE)
    await with_nodes(net, {3: Copier}).start()
    yield net
    await net.stop()


async def zero_fee_request(chain, net, payer) -> int:
    """A request paying 0 wei: no premium, and a gas price of 0 (the base fee set to 0 for one block)."""
    c = net.nodes[0].contract
    base = int((await chain.w3.eth.get_block("latest"))["baseFeePerGas"])
    await chain.w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", ["0x0"])
    try:
        data = c.encode_abi("requestPinned", args=[QUESTION, 0, b"", 100_000, bytes(32), 4, 0, 0])
        signed = await chain.send(payer, {"to": net.oracle, "data": data, "gas": 400_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0})
        receipt = await chain.wait(signed.hash)
    finally:
        await chain.w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(base)])
    [event] = c.events.Requested().process_receipt(receipt)
    assert int(event["args"]["request"]["fee"]) == 0
    return int(event["args"]["requestId"])


async def test_zero_fee_and_under_priced_requests_are_skipped_expire_and_are_refunded_in_full(lazy_net, chain):
    net, payer = lazy_net, dev_wallet(4)
    client = OracleClient(chain, net.oracle, payer)
    free = await zero_fee_request(chain, net, payer)
    cheap = await client.request(QUESTION, "bool", fee=FEE - 1, timeout=4)
    paid = await client.request("How many legs does a spider have?", "uint", fee=FEE)  # settles on any quorum of observations
    assert (await paid.result(timeout=120)).tx_hash  # at the floor: served
    with pytest.raises(OracleTimeout):
        await cheap.result(timeout=max(0.5, cheap.deadline - time.time()))
    await asyncio.sleep(1.5)
    for n in net.nodes:
        for rid, fee in ((free, 0), (cheap.request_id, FEE - 1)):
            rnd = await n.store.get(n._key(rid))
            assert rnd.status == "skipped" and f"fee {fee} wei is below this node's floor of {FEE} wei" in rnd.note
            assert rnd.my_answer is None and rnd.submit_tx is None  # nothing signed, nothing sent
        _, health = await n.health()  # visible to operators
        assert health["under_fee_skipped"] == 2 and health["fee_floor_wei"] == str(FEE)
    c = net.nodes[0].contract
    assert {await c.functions.statusOf(rid).call() for rid in (free, cheap.request_id)} == {1}  # still pending: nobody answered
    before = await client.credits()
    await cheap.cancel()
    assert await client.credits() - before == FEE - 1  # the under-priced fee goes back in full
    await OracleClient(chain, net.oracle, payer)._send(c.encode_abi("cancel", args=[free]), what="cancel")
    assert await client.credits() - before == FEE - 1 and await c.functions.statusOf(free).call() == 4  # cancelled, 0 back


async def test_a_request_whose_gas_price_bound_is_below_the_base_fee_is_skipped_and_refunded(lazy_net, chain):
    """Paying the floor but pinning the transmitter's reimbursement at 1 wei of gas price: whoever
    transmits would pay its gas itself, so no node answers; the fee comes back in full."""
    net, payer = lazy_net, dev_wallet(5)
    c = net.nodes[0].contract
    assert int(await c.functions.estimateFee(0, 100_000, 1).call()) <= FEE  # the contract accepts it
    data = c.encode_abi("requestPinned", args=[QUESTION, 0, b"", 100_000, bytes(32), 4, 1, 0])
    client = OracleClient(chain, net.oracle, payer)
    receipt = await client._send(data, value=FEE, what="request")
    [event] = c.events.Requested().process_receipt(receipt)
    rid = int(event["args"]["requestId"])
    await asyncio.sleep(4.5)  # past its 4 s deadline
    for n in net.nodes:
        rnd = await n.store.get(n._key(rid))
        assert rnd.status == "skipped" and "gas-price bound of 1 wei is below the base fee" in rnd.note, (rnd.status, rnd.note)
        assert rnd.my_answer is None and rnd.submit_tx is None
    assert await c.functions.statusOf(rid).call() == 1  # nobody answered
    deadline = int(event["args"]["request"]["deadline"])
    await chain.w3.provider.make_request("evm_mine", [max(deadline + 1, int(time.time()))])  # a block past the deadline
    before = await client.credits()
    await client._send(c.encode_abi("cancel", args=[rid]), what="cancel")
    assert await client.credits() - before == FEE


async def test_a_lazy_node_that_copies_revealed_answers_earns_nothing_over_five_rounds(lazy_net, chain):
    """Five rounds: the copier never gets a revealed value to copy, is never in a report and earns
    nothing; the honest nodes are paid in every round that settles. A round can fail to settle when
    the three honest nodes split (a 135M model at temperature 0 flips now and then under batching,
    and the copier adds nothing): that is the model, not the property, so at least three of the
    five must settle."""
    net = lazy_net
    c = net.nodes[0].contract
    client = OracleClient(chain, net.oracle, dev_wallet(7))
    lazy = net.nodes[3]
    honest = {n.address for n in net.nodes[:3]}
    before = {n.address: await c.functions.nodeInfo(n.address).call() for n in net.nodes}
    credit0 = {n.address: await client.credits(n.address) for n in net.nodes}
    paid: dict[str, int] = {a: 0 for a in honest}
    settled = 0
    for _ in range(5):
        req = await client.request(QUESTION, "bool", fee=FEE, timeout=40)
        try:
            result = await req.result(timeout=60)
        except OracleTimeout:
            continue
        settled += 1
        assert lazy.address not in result.reported and set(result.signers) <= honest and len(result.signers) >= 3, result
        for a in result.signers:
            paid[a] += 1
    assert settled >= 3, settled
    after = {n.address: await c.functions.nodeInfo(n.address).call() for n in net.nodes}
    assert await client.credits(lazy.address) == credit0[lazy.address] == 0
    assert after[lazy.address][AGREED] == 0 and after[lazy.address][ANSWERED] == 0  # never in a report
    for a in honest:  # the counters onchain say the same
        assert after[a][AGREED] - before[a][AGREED] == paid[a] == settled, (a, paid, settled)
        assert await client.credits(a) > credit0[a]
    assert lazy.copied == 0 and lazy.saw_seals >= 3, (lazy.copied, lazy.saw_seals)  # in the exchange, never shown a value


async def test_one_model_family_cannot_settle_a_request_that_requires_two(lazy_net, chain):
    """Every node here runs one model, so one family: a request with minFamilies = 2 gets a quorum
    of agreeing answers, yet no node submits it, and a node holding it says why; the same report sent anyway
    (the attack: a transmitter that ignores the rule) is refused by the contract, by name; the
    request expires and the fee comes back in full."""
    from concilium.errors import ConciliumError
    from concilium.oracle.kinds import Kind
    from concilium.oracle.signing import fulfil_report

    net, payer = lazy_net, dev_wallet(8)
    client = OracleClient(chain, net.oracle, payer)
    c = net.nodes[0].contract
    req = await client.request(QUESTION, "bool", fee=FEE, timeout=20, min_families=2)
    assert (await c.functions.requests(req.request_id).call())[11] == 2  # stored with the request
    report = None
    for _ in range(150):  # a quorum of reveals held: a node that would settle it but for families says so, and waits
        rounds = [await n.store.get(n._key(req.request_id)) for n in net.nodes]
        waiting = [n for n, r in zip(net.nodes, rounds) if r is not None and r.note and "model families" in r.note]
        if waiting and (ex := waiting[0]._sealed.get(req.request_id)) is not None:
            report = ex.report(Kind.BOOL, int(await c.functions.quorum().call()))
            break
        await asyncio.sleep(0.1)
    assert report, [(r.status, r.note) for r in rounds if r is not None]
    assert all(r.submit_tx is None and r.fulfil_tx is None for r in rounds if r is not None)  # nothing sent
    with pytest.raises(ConciliumError, match="TooFewFamilies"):
        await client._send(c.encode_abi("fulfill", args=[req.request_id, fulfil_report(report)]), what="the fulfil")
    with pytest.raises(OracleTimeout):
        await req.result(timeout=max(0.5, req.deadline - time.time()))
    await chain.w3.provider.make_request("evm_mine", [max(req.deadline + 1, int(time.time()))])
    before = await client.credits()
    await req.cancel()
    assert await client.credits() - before == FEE


async def test_a_node_waits_while_another_fulfil_is_in_the_mempool_and_submits_once_it_is_dropped(anvil, model, chain, tmp_path):
    """Automine off: node 1's fulfil for the request sits in the mempool; node 0 must not send a
    second. When node 1's transaction is dropped, node 0 sends its own, which settles the request."""
    net = await LocalOracleNetwork.deploy(anvil.url, model, tmp_path / "oracle", backoff=0.3)
    node, other = net.nodes[0], net.nodes[1]
    client = OracleClient(chain, net.oracle, dev_wallet(5))
    req = await client.request(QUESTION, "bool", fee=FEE, timeout=60)
    stored = await node.contract.functions.requests(req.request_id).call()
    commitment = bytes(stored[13])
    domain = Domain(await chain.chain_id(), net.oracle)
    answers = [sign_answer(node_wallet(i), domain, req.request_id, commitment, encode(["bool"], [True]), b"\x01" * 32) for i in range(4)]
    rnd = await node.store.add(Round(key=node._key(req.request_id), node=node.address, oracle=net.oracle, request_id=req.request_id,
                                     status="answered", consumer=dev_wallet(5).address, kind=0, prompt=QUESTION, options="0x",
                                     pinned_model="0x" + "00" * 32, deadline=req.deadline, fee_wei=str(FEE), peer_answers="{}",
                                     commitment="0x" + commitment.hex()))
    rpc = chain.w3.provider
    await rpc.make_request("evm_setAutomine", [False])
    submit = None
    try:
        data = other.contract.encode_abi("fulfill", args=[req.request_id, [a.as_tuple() for a in answers[1:]]])
        theirs = await other.chain.send(other.wallet, await other.chain.prepare({"to": net.oracle, "data": data}, other.address, 600_000))
        assert (await node._fulfil_in_flight(req.request_id)).lower() == other.address.lower()
        assert await node._fulfil_in_flight(req.request_id + 1) is None  # another request's: no reason to wait
        assert await other._fulfil_in_flight(req.request_id) is None  # its own transaction: no reason to wait
        submit = asyncio.create_task(node._submit(rnd, answers))
        await asyncio.sleep(1.5)
        me = node.address.lower()
        pool = (await rpc.make_request("txpool_content", []))["result"]["pending"]
        assert me not in {a.lower() for a in pool} and not submit.done()  # waited, sent nothing
        assert "is pending: not submitting a second" in (await node.store.get(rnd.key)).note
        await rpc.make_request("anvil_dropTransaction", [theirs.hash])
        for _ in range(50):  # node 0 notices and sends its own
            pool = {a.lower() for a in (await rpc.make_request("txpool_content", []))["result"]["pending"]}
            if me in pool:
                break
            await asyncio.sleep(0.2)
        assert me in pool
        await rpc.make_request("evm_mine", [])
        await asyncio.wait_for(submit, 30)
        assert await node.contract.functions.statusOf(req.request_id).call() == 2  # fulfilled by node 0's report of all four
        [event] = await node.contract.events.Fulfilled().get_logs(from_block=req.block)
        assert len(event["args"]["signers"]) == 4 and await chain.receipt(theirs.hash) is None
    finally:
        await rpc.make_request("evm_setAutomine", [True])
        if submit is not None and not submit.done():
            submit.cancel()
        for n in net.nodes:
            await n.chain.close()
            await n.store.close()


def test_oracle_up_model_families_resolve_and_unknown_ones_are_one_line_errors():
    from typer.testing import CliRunner

    from concilium.cli import app
    from concilium.cli.oracle import family

    assert [family(m) for m in ("smollm2", "gemma3", "bundled:gemma3-270m")] == ["bundled:smollm2", "bundled:gemma3-270m", "bundled:gemma3-270m"]
    r = CliRunner().invoke(app, ["oracle", "up", "--models", "smollm2,llama9"])
    assert r.exit_code != 0 and "unknown bundled model" in r.output and "Traceback" not in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1
    r = CliRunner().invoke(app, ["oracle", "up", "--models", "smollm2", "--model-url", "http://127.0.0.1:1/v1,http://127.0.0.1:2/v1"])
    assert r.exit_code != 0 and "2 --model-url and 0 --model-name for 1 model families" in r.output and "Traceback" not in r.output
