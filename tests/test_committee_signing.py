"""Fast tests (no chain): the SafeTx digest, owners' signatures and their packing, revert reasons,
Safe state checks and the guard's config."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from pydantic import ValidationError

from concilium.chain.wallets import Wallet
from concilium.committee import reverts
from concilium.committee.guard import GuardConfig, change_id
from concilium.committee.safe import SafeExpectation, SafeState, state_problems
from concilium.committee.safetx import ZERO_ADDRESS, Operation, SafeTx, safe_tx_hash, typed_data
from concilium.committee.signatures import OwnerSignature, pack, recover, sign
from concilium.errors import CommitteeError

SAFE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER_SAFE = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
HOT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MEMBERS = [Wallet(f"m{i}", Account.from_key(keccak(text=f"member {i}"))) for i in range(4)]
OUTSIDER = Wallet("outsider", Account.from_key(keccak(text="outsider")))
OWNERS = [m.address for m in MEMBERS]


def digest(tx=None, chain_id=31337, safe=SAFE):
    return safe_tx_hash(tx or SafeTx(to=HOT, value=10**18, nonce=7), chain_id, safe)


def test_digest_is_the_eip712_hash_of_the_typed_data():
    tx = SafeTx(to=HOT, value=123, data=b"\x12\x34", operation=Operation.CALL, nonce=42)
    msg = encode_typed_data(full_message=typed_data(tx, 31337, SAFE))
    assert safe_tx_hash(tx, 31337, SAFE) == keccak(b"\x19" + msg.version + msg.header + msg.body)


def test_typed_data_signature_is_the_same_as_a_digest_signature():
    tx = SafeTx(to=HOT, value=5, nonce=1)
    typed = MEMBERS[0].sign_typed_data(typed_data(tx, 31337, SAFE))
    assert recover(safe_tx_hash(tx, 31337, SAFE), bytes(typed.signature)) == MEMBERS[0].address


def test_digest_binds_nonce_safe_chain_and_every_field():
    base = SafeTx(to=HOT, value=1, nonce=0)
    variants = [SafeTx(to=HOT, value=1, nonce=1), SafeTx(to=HOT, value=2, nonce=0), SafeTx(to=SAFE, value=1),
                SafeTx(to=HOT, value=1, data=b"\x00"), SafeTx(to=HOT, value=1, operation=Operation.DELEGATECALL),
                SafeTx(to=HOT, value=1, gas_price=1), SafeTx(to=HOT, value=1, refund_receiver=HOT)]
    hashes = {digest(v) for v in variants} | {digest(base), digest(base, chain_id=1), digest(base, safe=OTHER_SAFE)}
    assert len(hashes) == len(variants) + 3


def test_pack_sorts_by_owner_and_takes_exactly_the_threshold():
    d = digest()
    sigs = [sign(m, d) for m in reversed(MEMBERS)]
    q = pack(sigs, d, OWNERS, 3)
    assert list(q.signers) == sorted(q.signers, key=lambda a: int(a, 16)) and len(q.signers) == 3
    assert len(q.packed) == 65 * 3
    assert [recover(d, q.packed[i * 65:(i + 1) * 65]) for i in range(3)] == list(q.signers)


def test_pack_refuses_a_short_quorum_with_the_reason():
    d = digest()
    with pytest.raises(CommitteeError, match="only 2 valid owner signature"):
        pack([sign(MEMBERS[0], d), sign(MEMBERS[1], d)], d, OWNERS, 3)


def test_pack_drops_forged_replayed_duplicate_and_outsider_signatures():
    d = digest()
    forged = OwnerSignature(MEMBERS[2].address, sign(OUTSIDER, d).signature)       # claims to be m2
    old_nonce = OwnerSignature(MEMBERS[3].address, sign(MEMBERS[3], digest(SafeTx(to=HOT, value=10**18, nonce=6))).signature)
    other_safe = OwnerSignature(MEMBERS[3].address, sign(MEMBERS[3], digest(safe=OTHER_SAFE)).signature)
    other_chain = OwnerSignature(MEMBERS[2].address, sign(MEMBERS[2], digest(chain_id=1)).signature)
    garbage = OwnerSignature(MEMBERS[3].address, b"\x01" * 65)
    sigs = [sign(MEMBERS[0], d), sign(MEMBERS[1], d), sign(MEMBERS[1], d), forged, old_nonce, other_safe, other_chain,
            garbage, sign(OUTSIDER, d)]
    with pytest.raises(CommitteeError) as e:
        pack(sigs, d, OWNERS, 3)
    msg = str(e.value)
    assert "only 2 valid" in msg and "not an owner" in msg and "signed twice" in msg and "not a valid signature" in msg
    assert "\n" not in msg
    q = pack(sigs + [sign(MEMBERS[3], d)], d, OWNERS, 3)
    assert set(q.signers) == {MEMBERS[0].address, MEMBERS[1].address, MEMBERS[3].address}
    assert len(q.rejected) == 7


def test_recover_refuses_malformed_signatures():
    d = digest()
    good = sign(MEMBERS[0], d).signature
    assert recover(d, good[:64]) is None
    assert recover(d, good[:64] + b"\x00") is None
    assert recover(d, b"\x00" * 64 + b"\x1b") is None


def test_revert_reasons_are_one_line():
    gs026 = "0x08c379a0" + encode(["string"], ["GS026"]).hex()
    assert "forged, or signed for another nonce" in reverts.explain(gs026)
    sel = keccak(text="DayLimitExceeded(address,uint256,uint256,uint256)")[:4]
    data = sel + encode(["address", "uint256", "uint256", "uint256"], [ZERO_ADDRESS, 10, 4, 7])
    assert reverts.explain(data) == f"CommitteeGuard refused: DayLimitExceeded({ZERO_ADDRESS}, 10, 4, 7)"
    assert reverts.explain(b"\xde\xad\xbe\xef").startswith("reverted with data 0xdeadbeef")


def _state(**kw):
    base = dict(address=SAFE, chain_id=31337, version="1.4.1", owners=tuple(OWNERS), threshold=3, nonce=0,
                guard=ZERO_ADDRESS, fallback_handler=ZERO_ADDRESS, modules=())
    return SafeState(**{**base, **kw})


def test_state_problems_name_every_difference():
    expect = SafeExpectation(owners=OWNERS, threshold=3, guard=ZERO_ADDRESS)
    assert state_problems(_state(), expect) == []
    probs = state_problems(_state(owners=tuple(OWNERS[:3]) + (OUTSIDER.address,), threshold=2, guard=HOT,
                                  modules=(HOT,), version="1.1.1"), expect)
    text = " | ".join(probs)
    assert "EIP-1271" in state_problems(_state(fallback_handler=HOT), expect)[0]
    assert state_problems(_state(fallback_handler=HOT), expect.model_copy(update={"fallback_handler": HOT})) == []
    for needle in ("version 1.1.1", f"not owners of the Safe: {OWNERS[3]}", OUTSIDER.address, "threshold is 2",
                   f"guard is {HOT}", "modules are enabled"):
        assert needle in text


def test_guard_config_validates_and_orders_constructor_args():
    cfg = GuardConfig(recipients=[HOT.lower()], token_limits={SAFE.lower(): 5}, eth_per_day=10)
    safe_arg, (recipients, targets, spenders, tokens, limits, eth, delay, guardian) = cfg.constructor_args(OTHER_SAFE)
    assert recipients == [HOT] and tokens == [SAFE] and limits == [5] and eth == 10 and delay == 2 * 86400
    with pytest.raises(ValidationError, match="not an address"):
        GuardConfig(recipients=["0x1234"])
    with pytest.raises(ValidationError, match="between 1 hour"):
        GuardConfig(delay=60)
    with pytest.raises(ValidationError, match="negative"):
        GuardConfig(token_limits={SAFE: -1})
    with pytest.raises(ValidationError, match="cannot also be a target"):
        GuardConfig(targets=[SAFE], token_limits={SAFE: 1})
    assert change_id(SAFE, b"\x01") != change_id(OTHER_SAFE, b"\x01")
