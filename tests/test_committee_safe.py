"""A committee's Safe on the real anvil: the audited Safe 1.4.1 bytecode from npm, 4 members,
threshold 3, CommitteeGuard installed. Written as the attacks: a forged, replayed or short set of
signatures, a double submission, and a colluding quorum against the guard."""

from __future__ import annotations

import asyncio

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from concilium.chain.abi import ERC20_ABI
from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet, dev_wallet
from concilium.committee.deploy import create_safe, deploy_committee_safe, deploy_singletons
from concilium.committee.guard import CommitteeGuardReader, GuardConfig, change_id
from concilium.committee.safe import Safe, SafeExpectation
from concilium.committee.safetx import ZERO_ADDRESS, Operation, SafeTx, safe_tx_hash
from concilium.committee.signatures import OwnerSignature, sign
from concilium.errors import CommitteeError
from tests.conftest import HOT, deploy_token, set_balance

pytestmark = pytest.mark.stack

ETH = 10**18
OUTSIDER = to_checksum_address("0x000000000000000000000000000000000000bad0")
MEMBERS = [Wallet(f"m{i}", Account.from_key(keccak(text=f"committee member {i}"))) for i in range(4)]
DEPLOYER = dev_wallet(9)
SECOND_SUBMITTER = dev_wallet(8)


@pytest.fixture(scope="module")
async def singletons(anvil):
    chain = ChainClient([anvil.url])
    yield await deploy_singletons(chain, DEPLOYER)
    await chain.close()


@pytest.fixture
async def committee(chain, singletons):
    """A fresh Safe per test (4 members, k=3), 100 ETH and 10,000 USDC in it, guard installed."""
    token = await deploy_token(chain, owner=9)
    config = GuardConfig(recipients=[HOT], token_limits={token: 150 * ETH}, eth_per_day=10 * ETH, delay=2 * 86400)
    c = await deploy_committee_safe(chain, DEPLOYER, MEMBERS, 3, config, singletons)
    await set_balance(chain, c.safe.address, 100 * ETH)
    usdc = chain.contract(token, ERC20_ABI)
    await chain.transact(DEPLOYER, {"to": token, "data": usdc.encode_abi("transfer", args=[c.safe.address, 10_000 * ETH])})
    return c, usdc, config


async def signed(safe: Safe, tx: SafeTx, members=MEMBERS[:3]) -> list[OwnerSignature]:
    d = await safe.digest(tx)
    return [sign(m, d) for m in members]


async def raw_exec_reason(safe: Safe, tx: SafeTx, packed: bytes) -> str:
    """What the chain itself says to an execTransaction with these exact bytes (no client checks)."""
    call = {"from": DEPLOYER.address, "to": safe.address,
            "data": safe.contract.encode_abi("execTransaction", args=list(tx.exec_args(packed)))}
    with pytest.raises(CommitteeError) as e:
        await safe.preflight(call)
    return str(e.value)


def packed(sigs: list[OwnerSignature]) -> bytes:
    return b"".join(s.signature for s in sorted(sigs, key=lambda s: int(s.owner, 16)))


async def test_our_digest_is_the_safes_own_getTransactionHash(committee):
    (c, usdc, _) = committee
    for tx in (SafeTx(to=HOT, value=ETH, nonce=0), SafeTx(to=usdc.address, data=b"\xa9\x05\x9c\xbb" + bytes(64), nonce=9),
               SafeTx(to=HOT, operation=Operation.DELEGATECALL, gas_price=7, refund_receiver=HOT, nonce=2**40)):
        assert await c.safe.digest(tx) == await c.safe.onchain_digest(tx)


async def test_attach_reads_and_checks_the_safe(chain, committee):
    (c, _, config) = committee
    s = await c.safe.state()
    assert set(s.owners) == {m.address for m in MEMBERS} and s.threshold == 3 and s.version == "1.4.1"
    assert s.guard == c.guard and s.fallback_handler == c.singletons.fallback_handler and s.modules == ()
    assert s.nonce == 1  # the members' own setGuard
    ok = SafeExpectation(owners=[m.address for m in MEMBERS], threshold=3, guard=c.guard,
                         fallback_handler=c.singletons.fallback_handler)
    await Safe.attach(chain, c.safe.address, ok)
    for wrong, needle in ((ok.model_copy(update={"threshold": 2}), "threshold is 3, the committee says 2"),
                          (ok.model_copy(update={"owners": [m.address for m in MEMBERS[:3]]}), "owners the committee does not list"),
                          (ok.model_copy(update={"guard": ZERO_ADDRESS}), "guard is"),
                          (ok.model_copy(update={"fallback_handler": None}), "EIP-1271")):
        with pytest.raises(CommitteeError, match=needle) as e:
            await Safe.attach(chain, c.safe.address, wrong)
        assert "\n" not in str(e.value)
    with pytest.raises(CommitteeError, match="no contract at"):
        await Safe.attach(chain, OUTSIDER, ok)
    assert await CommitteeGuardReader(chain, c.guard).problems(c.safe.address, config) == []
    drift = config.model_copy(update={"eth_per_day": 11 * ETH, "recipients": [OUTSIDER]})
    problems = await CommitteeGuardReader(chain, c.guard).problems(c.safe.address, drift)
    assert any("ETH day limit" in p for p in problems) and any(OUTSIDER in p for p in problems)


async def test_three_signatures_execute_exactly_once(chain, committee):
    (c, _, _) = committee
    before = await chain.w3.eth.get_balance(HOT)
    tx = await c.safe.build(HOT, value=ETH)
    sigs = await signed(c.safe, tx)
    done = await c.safe.execute(tx, sigs, DEPLOYER)
    assert done.nonce == tx.nonce and len(done.signers) == 3 and done.gas_used > 21_000
    assert await chain.w3.eth.get_balance(HOT) == before + ETH
    assert await c.safe.nonce() == tx.nonce + 1
    # a 4th member submits the same SafeTx again: it learns of the execution, nothing is sent
    sent_before = await chain.mined_nonce(SECOND_SUBMITTER.address)
    again = await c.safe.execute(tx, sigs + [sign(MEMBERS[3], await c.safe.digest(tx))], SECOND_SUBMITTER)
    assert not again.by_us and again.tx_hash == done.tx_hash and again.safe_tx_hash == done.safe_tx_hash
    assert await chain.mined_nonce(SECOND_SUBMITTER.address) == sent_before
    # the chain itself refuses those bytes: the digest now has nonce+1, so the signers recover wrong
    assert "GS026" in await raw_exec_reason(c.safe, tx, packed(sigs))
    # a different SafeTx signed for the used nonce is refused by nonce
    other = SafeTx(to=HOT, value=2 * ETH, nonce=tx.nonce)
    with pytest.raises(CommitteeError, match=f"for nonce {tx.nonce} but the Safe is at nonce {tx.nonce + 1}"):
        await c.safe.execute(other, await signed(c.safe, other), SECOND_SUBMITTER)
    assert await chain.w3.eth.get_balance(HOT) == before + ETH


async def test_two_members_submitting_at_once_execute_once(chain, committee):
    """No client checks: both submitters broadcast the same execTransaction; the Safe's nonce lets one through."""
    (c, _, _) = committee
    before = await chain.w3.eth.get_balance(HOT)
    tx = await c.safe.build(HOT, value=ETH)
    data = c.safe.contract.encode_abi("execTransaction", args=list(tx.exec_args(packed(await signed(c.safe, tx)))))
    fees = (await chain.fees()).as_tx()
    sent = await asyncio.gather(*(chain.send(w, {"to": c.safe.address, "data": data, "gas": 300_000, **fees})
                                  for w in (DEPLOYER, SECOND_SUBMITTER)))
    receipts = [await chain.wait(s.hash) for s in sent]
    assert sorted(r["status"] for r in receipts) == [0, 1]
    assert await chain.w3.eth.get_balance(HOT) == before + ETH
    assert await c.safe.nonce() == tx.nonce + 1


async def test_two_members_executing_at_once_both_see_the_one_execution(chain, committee):
    (c, _, _) = committee
    before = await chain.w3.eth.get_balance(HOT)
    start = await chain.w3.eth.block_number
    tx = await c.safe.build(HOT, value=ETH)
    sigs = await signed(c.safe, tx, MEMBERS)
    a, b = await asyncio.gather(c.safe.execute(tx, sigs, DEPLOYER, since_block=start),
                                c.safe.execute(tx, sigs, SECOND_SUBMITTER, since_block=start))
    assert sorted([a.by_us, b.by_us]) == [False, True] and a.tx_hash == b.tx_hash
    assert await chain.w3.eth.get_balance(HOT) == before + ETH
    assert await c.safe.nonce() == tx.nonce + 1


async def test_forged_replayed_and_short_signatures_are_refused(chain, committee, singletons):
    (c, _, _) = committee
    before = await chain.w3.eth.get_balance(HOT)
    tx = await c.safe.build(HOT, value=ETH)
    d = await c.safe.digest(tx)
    good = [sign(m, d) for m in MEMBERS[:2]]
    outsider = Wallet("outsider", Account.from_key(keccak(text="not a member")))
    chain_id = await chain.chain_id()
    other = await create_safe(chain, DEPLOYER, singletons, [m.address for m in MEMBERS], 3)
    attacks = {
        "forged": OwnerSignature(MEMBERS[2].address, sign(outsider, d).signature),
        "old nonce": OwnerSignature(MEMBERS[2].address, sign(MEMBERS[2], safe_tx_hash(tx.with_nonce(tx.nonce - 1), chain_id, c.safe.address)).signature),
        "other Safe": OwnerSignature(MEMBERS[2].address, sign(MEMBERS[2], safe_tx_hash(tx, chain_id, other.address)).signature),
        "other chain": OwnerSignature(MEMBERS[2].address, sign(MEMBERS[2], safe_tx_hash(tx, chain_id + 1, c.safe.address)).signature),
        "outsider as itself": sign(outsider, d),
    }
    for what, bad in attacks.items():
        with pytest.raises(CommitteeError, match="only 2 valid owner signature") as e:
            await c.safe.execute(tx, good + [bad], DEPLOYER)
        assert "\n" not in str(e.value), what
        assert "GS026" in await raw_exec_reason(c.safe, tx, packed(good + [bad])), what
    with pytest.raises(CommitteeError, match="only 2 valid owner signature"):
        await c.safe.execute(tx, good, DEPLOYER)
    assert "GS020" in await raw_exec_reason(c.safe, tx, packed(good))
    assert await chain.w3.eth.get_balance(HOT) == before and await c.safe.nonce() == tx.nonce
    # the same three signatures on the wrong Safe (same owners) are refused too
    assert "GS026" in await raw_exec_reason(other, tx.with_nonce(0), packed(await signed(c.safe, tx.with_nonce(0))))


async def test_guard_refuses_a_colluding_quorum(chain, committee):
    (c, usdc, _) = committee
    balance = await chain.w3.eth.get_balance(c.safe.address)
    nonce = await c.safe.nonce()
    transfer = lambda to, amount: bytes.fromhex(usdc.encode_abi("transfer", args=[to, amount])[2:])  # noqa: E731
    set_guard_none = bytes.fromhex(c.safe.contract.encode_abi("setGuard", args=[ZERO_ADDRESS])[2:])
    add_module = bytes.fromhex(c.safe.contract.encode_abi("enableModule", args=[OUTSIDER])[2:])
    attacks = [
        (SafeTx(to=HOT, value=11 * ETH, nonce=nonce), "DayLimitExceeded"),
        (SafeTx(to=OUTSIDER, value=ETH, nonce=nonce), "RecipientNotAllowed"),
        (SafeTx(to=usdc.address, data=transfer(HOT, 151 * ETH), nonce=nonce), "DayLimitExceeded"),
        (SafeTx(to=usdc.address, data=transfer(OUTSIDER, 1), nonce=nonce), "RecipientNotAllowed"),
        (SafeTx(to=HOT, operation=Operation.DELEGATECALL, nonce=nonce), "DelegateCallRefused"),
        (SafeTx(to=HOT, gas_price=10**12, refund_receiver=OUTSIDER, nonce=nonce), "RefundRefused"),
        (SafeTx(to=c.safe.address, data=set_guard_none, nonce=nonce), "NotScheduled"),
        (SafeTx(to=c.safe.address, data=add_module, nonce=nonce), "NotScheduled"),
    ]
    for tx, reason in attacks:
        with pytest.raises(CommitteeError, match=f"CommitteeGuard refused: {reason}"):
            await c.safe.execute(tx, await signed(c.safe, tx, MEMBERS), DEPLOYER)
    # up to the limit in pieces, then one wei more is refused
    for _ in range(2):
        tx = await c.safe.build(HOT, value=5 * ETH)
        await c.safe.execute(tx, await signed(c.safe, tx), DEPLOYER)
    tx = await c.safe.build(HOT, value=1)
    with pytest.raises(CommitteeError, match="DayLimitExceeded"):
        await c.safe.execute(tx, await signed(c.safe, tx), DEPLOYER)
    assert await chain.w3.eth.get_balance(c.safe.address) == balance - 10 * ETH
    assert await CommitteeGuardReader(chain, c.guard).remaining_today() == 0
    assert (await c.safe.state()).guard == c.guard


async def test_a_quorum_can_only_schedule_a_change_and_wait(chain, committee):
    """Loosening the guard is a SafeTx like any other, but only schedules: it runs after the delay."""
    (c, _, _) = committee
    reader = CommitteeGuardReader(chain, c.guard)
    raise_limit = bytes.fromhex(reader.contract.encode_abi("setEthLimit", args=[1000 * ETH])[2:])
    tx = reader.schedule_tx(c.guard, raise_limit).with_nonce(await c.safe.nonce())
    await c.safe.execute(tx, await signed(c.safe, tx), DEPLOYER)
    cid = change_id(c.guard, raise_limit)
    assert cid == await reader.contract.functions.changeId(c.guard, raise_limit).call()
    ready = await reader.contract.functions.readyAt(cid).call()
    assert ready >= (await chain.w3.eth.get_block("latest"))["timestamp"] + 2 * 86400
    now = await c.safe.build(c.guard, data=raise_limit)
    with pytest.raises(CommitteeError, match="CommitteeGuard refused: TooEarly"):
        await c.safe.execute(now, await signed(c.safe, now), DEPLOYER)
    assert await reader.contract.functions.dayLimit(ZERO_ADDRESS).call() == 10 * ETH


async def test_exec_gas_with_and_without_the_guard(chain, committee, singletons):
    (c, _, _) = committee
    bare = await create_safe(chain, DEPLOYER, singletons, [m.address for m in MEMBERS], 3)
    await set_balance(chain, bare.address, 10 * ETH)
    warm_up = await bare.build(HOT)  # the guarded Safe's nonce already left 0 (setGuard): same storage costs
    await bare.execute(warm_up, await signed(bare, warm_up), DEPLOYER)
    gas = {}
    for name, safe in (("guarded", c.safe), ("bare", bare)):
        tx = await safe.build(HOT, value=ETH)
        gas[name] = (await safe.execute(tx, await signed(safe, tx), DEPLOYER)).gas_used
    print("execTransaction gas", gas)
    assert gas["bare"] < gas["guarded"] < gas["bare"] + 60_000
