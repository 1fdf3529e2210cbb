"""The oracle protocol's pure parts, no anvil or model: typed data and signatures, answer kinds
as the contract validates them, and aggregation under the fault model."""

import pytest
from eth_abi import encode

from concilium.chain.wallets import dev_wallet
from concilium.oracle.aggregator import Aggregator
from concilium.oracle.kinds import BadValue, Kind, encode_answer, encode_options, labels_of, readable
from concilium.oracle.params import fault_tolerance
from concilium.oracle.signing import Domain, Reason, RequestTerms, SignedAnswer, recover_signer, sign_answer, sign_verdict

DOMAIN = Domain(31337, "0x" + "11" * 20)
TERMS = RequestTerms.of(7, "0x" + "22" * 20, "Is 7 a prime number?", 0, b"", bytes(32), 1_800_000_000, 10**15, 100_000, 1)
C = TERMS.commitment()
WALLETS = [dev_wallet(10 + i) for i in range(7)]


def test_every_field_of_the_request_changes_its_commitment():
    base = TERMS.__dict__
    for field, other in [("request_id", 8), ("consumer", "0x" + "33" * 20), ("prompt_hash", b"\x01" * 32), ("kind", 1),
                         ("options_hash", b"\x02" * 32), ("model_id", b"\x03" * 32), ("deadline", 1_800_000_001),
                         ("fee", 10**15 + 1), ("callback_gas_limit", 100_001), ("epoch", 2)]:
        assert RequestTerms(**{**base, field: other}).commitment() != C, field


def test_a_signature_recovers_only_for_its_commitment_value_and_domain():
    a = sign_answer(WALLETS[0], DOMAIN, 7, C, encode(["bool"], [True]), bytes(32))
    assert recover_signer(DOMAIN, a) == WALLETS[0].address
    moved = [SignedAnswer(7, b"\x00" * 32, a.value, a.model_id, a.signature, a.signer),
             SignedAnswer(7, C, encode(["bool"], [False]), a.model_id, a.signature, a.signer),
             SignedAnswer(7, C, a.value, b"\x01" * 32, a.signature, a.signer)]
    assert all(recover_signer(DOMAIN, m) != WALLETS[0].address for m in moved)
    assert recover_signer(Domain(1, DOMAIN.oracle), a) != WALLETS[0].address


def test_a_verdict_is_not_an_answer_and_its_reason_is_signed():
    v = sign_verdict(WALLETS[1], DOMAIN, 7, C, Reason.PROMPT_TOO_LONG, bytes(32))
    assert v.unanswerable and recover_signer(DOMAIN, v) == WALLETS[1].address
    rewritten = SignedAnswer(7, C, b"", v.model_id, v.signature, v.signer, int(Reason.MODEL_ERROR))
    assert recover_signer(DOMAIN, rewritten) != WALLETS[1].address
    as_answer = SignedAnswer(7, C, b"", v.model_id, v.signature, v.signer, 0)
    assert recover_signer(DOMAIN, as_answer) != WALLETS[1].address
    with pytest.raises(ValueError):
        sign_verdict(WALLETS[1], DOMAIN, 7, C, 0, bytes(32))


def test_malleable_twin_is_refused_as_by_the_contract():
    a = sign_answer(WALLETS[0], DOMAIN, 7, C, encode(["bool"], [True]), bytes(32))
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(a.signature[32:64], "big")
    twin = a.signature[:32] + (n - s).to_bytes(32, "big") + bytes([55 - a.signature[64]])
    assert recover_signer(DOMAIN, SignedAnswer(7, C, a.value, a.model_id, twin, a.signer)) is None


@pytest.mark.parametrize("n,f,q", [(1, 0, 1), (3, 0, 2), (4, 1, 3), (5, 1, 4), (6, 1, 4), (7, 2, 5), (10, 3, 7), (31, 10, 21)])
def test_fault_tolerance_as_the_contract_derives_it(n, f, q):
    assert fault_tolerance(n) == (f, q)
    assert n >= 3 * f + 1 and 2 * q > n + f and q <= n - f


def test_choice_answers_stay_below_the_label_count_and_labels_are_strict():
    options = encode_options(["blue", "green", "red"])
    assert encode_answer(Kind.CHOICE, "red", options) == encode(["uint256"], [2])
    with pytest.raises(BadValue):
        encode_answer(Kind.CHOICE, "purple", options)
    for bad in (encode_options(["only"]), encode_options(["yes", ""]), options + bytes(32), b"\x00" * 64):
        with pytest.raises(BadValue):
            labels_of(bad)


def test_text_answers_are_non_empty_and_within_the_byte_cap():
    assert encode_answer(Kind.TEXT, "  Paris. ") == encode(["string"], ["paris"])
    for bad in ("", " . ", "é" * 200):
        with pytest.raises(BadValue):
            encode_answer(Kind.TEXT, bad)


def test_numbers_keep_their_range_and_read_as_strings():
    big = 2**256 - 1
    assert readable(Kind.UINT, encode_answer(Kind.UINT, big)) == str(big)
    assert readable(Kind.INT, encode_answer(Kind.INT, -(2**255))) == str(-(2**255))
    for kind, bad in ((Kind.UINT, -1), (Kind.UINT, 2**256), (Kind.INT, 2**255), (Kind.UINT, True), (Kind.UINT, "7")):
        with pytest.raises(BadValue):
            encode_answer(kind, bad)
    with pytest.raises(BadValue):
        encode_answer(Kind.BOOL, "yes")


def _answers(values, commitment=C):
    return [sign_answer(w, DOMAIN, 7, commitment, encode(["uint256"], [v]), bytes(32)) for w, v in zip(WALLETS, values)]


def test_numeric_quorum_is_exactly_a_quorum_of_distinct_signers_sorted():
    agg = Aggregator()
    for a in _answers([8, 8, 6, 10**30, 8]):
        assert agg.add(a)
    assert not agg.add(_answers([9])[0])  # one entry per signer: the first
    chosen = agg.quorum_set(7, Kind.UINT, 5)
    assert len(chosen) == 5 and len({a.signer for a in chosen}) == 5
    assert [int(a.signer, 16) for a in chosen] == sorted(int(a.signer, 16) for a in chosen)
    assert agg.quorum_set(7, Kind.UINT, 6) is None


def test_exact_kinds_need_a_quorum_of_identical_answers():
    agg = Aggregator()
    for a in _answers([1, 1, 0, 0, 1]):
        agg.add(a)
    assert agg.quorum_set(7, Kind.BOOL, 4) is None
    chosen = agg.quorum_set(7, Kind.BOOL, 3)
    assert {a.value for a in chosen} == {encode(["uint256"], [1])}


def test_answers_over_another_commitment_never_count():
    agg = Aggregator()
    for a in _answers([1, 1], commitment=b"\x09" * 32) + _answers([1, 1, 1])[2:]:
        agg.add(a)
    assert agg.quorum_set(7, Kind.BOOL, 3, commitment=C) is None


def test_a_quorum_of_verdicts_settles_whatever_the_reasons():
    agg = Aggregator()
    reasons = [Reason.PROMPT_TOO_LONG, Reason.MODEL_ERROR, Reason.PROMPT_TOO_LONG]
    for w, r in zip(WALLETS, reasons):
        agg.add(sign_verdict(w, DOMAIN, 7, C, r, bytes(32)))
    agg.add(_answers([0, 0, 0, 1])[3])
    assert agg.quorum_set(7, Kind.BOOL, 3, commitment=C) is None
    verdicts = agg.verdict_set(7, 3, commitment=C)
    assert len(verdicts) == 3 and all(v.unanswerable for v in verdicts)
    assert agg.verdict_set(7, 4, commitment=C) is None
