"""The oracle's commit-reveal over signed seals (concilium/oracle/exchange.py), with real keys and
EIP-712 signatures but no network: what a node reveals when, what it counts, what it reports, and
the evidence it keeps against a double-signer."""

from eth_abi import encode

from concilium.llm.provenance import family_tag
from concilium.oracle.aggregator import SettleRule
from concilium.oracle.exchange import SealedRound, submission_rank
from concilium.oracle.kinds import Kind
from concilium.oracle.network import node_wallet
from concilium.oracle.signing import Domain, recover_signer, sign_answer, fulfil_report

DOMAIN = Domain(31337, "0x" + "42" * 20)
COMMITMENT = b"\x33" * 32
MODEL = b"\x01" * 32
W = [node_wallet(i) for i in range(4)]  # n=4, quorum 3
YES, NO = encode(["bool"], [True]), encode(["bool"], [False])


def entry(i, value=YES, model=MODEL):
    return sign_answer(W[i], DOMAIN, 1, COMMITMENT, value, model)


def round_of(i=0):
    return SealedRound(COMMITMENT, W[i].address, [w.address for w in W], 3)


def test_a_node_reveals_only_after_a_quorum_of_seals_and_sends_no_value_before():
    r, mine = round_of(), entry(0)
    r.commit_own(mine)
    assert r.may_reveal is None and all(not e.value and not e.salt for e in r.served(W[1].address))
    r.add(entry(1).commit_only())
    assert r.may_reveal is None
    r.add(entry(2).commit_only())
    assert r.ready and r.may_reveal is None  # a quorum: wait the grace period for the last node
    r.release()
    assert r.may_reveal == mine and mine.reveal_matches()
    assert recover_signer(DOMAIN, mine.commit_only()) == W[0].address  # the seal alone is a valid signed entry


def test_the_report_holds_every_matching_reveal_so_every_honest_node_is_paid():
    r = round_of()
    r.commit_own(entry(0))
    peers = [entry(i) for i in (1, 2, 3)]
    for p in peers:
        r.add(p.commit_only())
    for p in peers:
        r.add(p)
    report = r.report(Kind.BOOL, 3)
    assert [a.signer for a in report] == sorted((w.address for w in W), key=lambda a: int(a, 16))  # all four, not a quorum of three
    assert len(fulfil_report(report)) == 4


def test_a_copier_sealing_after_the_reveals_is_left_out_of_the_report():
    r = round_of()
    r.commit_own(entry(0))
    peers = [entry(i) for i in (1, 2)]
    for p in peers:
        r.add(p.commit_only())
    r.release()
    for p in peers:
        assert r.add(p).kept
    copier = entry(3, r.revealed[W[1].address].value)  # seals what it just saw revealed
    r.add(copier.commit_only())
    v = r.add(copier)
    assert not v.kept and W[3].address not in {a.signer for a in r.report(Kind.BOOL, 3)}


def test_revealed_values_are_served_only_to_nodes_that_have_sealed():
    """The copier's way in is the exchange itself: asking a node that has revealed. A node that has
    not sealed gets seals and nothing to copy; one that has is bound to its value (a copy would need
    a second seal: evidence, below) and may see the reveals, however late it sealed."""
    r = round_of()
    r.commit_own(entry(0))
    peers = [entry(1), entry(2)]
    for p in peers:
        r.add(p.commit_only())
    assert all(not e.salt for e in r.served(W[1].address))  # nothing is out before this node reveals
    r.release()
    assert r.add(peers[0]).kept

    def values(requester):
        return {e.signer: e.value for e in r.served(requester) if e.salt}

    assert values(W[2].address) == {W[0].address: YES, W[1].address: YES}
    assert values(W[3].address) == values(W[3].address.lower()) == {}  # has sealed nothing
    assert values("0x" + "77" * 20) == {}  # not a node of the round at all
    bound = entry(3, NO)
    r.add(bound.commit_only())  # a slow node seals now: it is bound to NO, so it may see the reveals
    assert values(W[3].address) == {W[0].address: YES, W[1].address: YES}
    r.add(entry(3, YES).commit_only())  # turning to the value it saw takes a second seal
    assert [(a.signer, b.signer) for a, b in r.evidence] == [(W[3].address, W[3].address)]
    assert W[3].address not in {a.signer for a in r.report(Kind.BOOL, 3) or []}


def test_a_reveal_that_does_not_open_its_seal_is_not_counted():
    r = round_of()
    r.commit_own(entry(0))
    honest = [entry(i) for i in (1, 2, 3)]
    for p in honest:
        r.add(p.commit_only())
    assert r.may_reveal is not None  # every node's seal held: no grace needed
    liar = honest[2]
    forged = type(liar)(liar.request_id, liar.commitment, NO, liar.model_id, liar.signature, liar.signer, 0, liar.salt, liar.seal)
    assert not forged.reveal_matches()
    assert not r.add(forged).kept
    r.add(honest[0])
    r.add(honest[1])
    assert r.report(Kind.BOOL, 3) is not None and W[3].address not in r.revealed


def test_two_different_signed_seals_from_one_node_become_slash_evidence():
    r = round_of()
    r.commit_own(entry(0))
    a, b = entry(1, YES), entry(1, NO)
    r.add(a.commit_only())
    r.add(b.commit_only())
    (first, second), = r.evidence
    assert first.seal == a.seal and second.seal == b.seal
    assert recover_signer(DOMAIN, first) == recover_signer(DOMAIN, second) == W[1].address


def test_no_quorum_of_one_value_means_no_report():
    r = round_of()
    r.commit_own(entry(0, YES))
    others = [entry(1, NO), entry(2, NO), entry(3, YES)]
    for p in others:
        r.add(p.commit_only())
    r.add(others[0])
    r.add(others[2])
    assert r.report(Kind.BOOL, 3) is None  # yes, yes, no: two of one value
    r.add(others[1])
    assert r.report(Kind.BOOL, 3) is None
    assert r.report(Kind.UINT, 3) is not None  # a numeric kind settles on any quorum of observations


def test_a_report_needs_the_agreeing_nodes_to_span_the_families_the_request_requires():
    """minFamilies, as the contract counts it: families (the model id's first 4 bytes) over the
    paid entries only; a disagreeing or out-of-band node of another family does not make two."""
    smol, gemma = family_tag("smollm2"), family_tag("gemma3")
    m = {0: bytes.fromhex(smol) + b"\x01" * 28, 1: bytes.fromhex(smol) + b"\x02" * 28,  # one family, two model ids
         2: bytes.fromhex(smol) + b"\x01" * 28, 3: bytes.fromhex(gemma) + b"\x01" * 28}
    two = SettleRule(quorum=3, f=1, min_families=2)

    def full(values):
        r = round_of()
        r.commit_own(entry(0, values[0], m[0]))
        peers = [entry(i, values[i], m[i]) for i in (1, 2, 3)]
        for p in peers:
            r.add(p.commit_only())
        for p in peers:
            r.add(p)
        return r

    assert full([YES, YES, YES, YES]).report(Kind.BOOL, two) is not None
    assert full([YES, YES, YES, NO]).report(Kind.BOOL, two) is None  # gemma disagrees: one family agrees
    assert full([YES, YES, YES, NO]).report(Kind.BOOL, 3) is not None  # any family: settles
    u = [encode(["uint256"], [v]) for v in (8, 8, 8, 10**30)]
    assert full(u).report(Kind.UINT, two) is None  # gemma's observation lies outside the honest band
    assert full(u[:3] + [encode(["uint256"], [9])]).report(Kind.UINT, two) is None  # band [x_1, x_2] = [8, 8]: 9 is out
    assert full(u[:3] + [encode(["uint256"], [8])]).report(Kind.UINT, two) is not None


def test_the_submission_order_starts_at_the_leader_and_skips_nodes_whose_seal_came_after_the_reveals():
    nodes = sorted((w.address for w in W), key=lambda a: int(a, 16))
    assert [submission_rank(5, nodes, n) for n in nodes] == [3, 0, 1, 2]  # leader: nodes[5 % 4]
    late = nodes[1]  # the leader sealed only after the answers were out (a copier)
    counted = frozenset(n for n in nodes if n != late)
    assert [submission_rank(5, nodes, n, counted) for n in nodes] == [2, 0, 0, 1]  # nobody waits for it
    assert submission_rank(5, nodes, "0x" + "99" * 20) == 4  # not a node: last


def test_a_late_seal_is_not_counted_so_the_node_ranks_it_out():
    r = round_of()
    r.commit_own(entry(0))
    for i in (1, 2):
        r.add(entry(i).commit_only())
    r.release()  # grace over: reveal with three seals
    r.add(entry(3).commit_only())  # node 3 seals after the reveal: a possible copier
    assert W[3].address not in r.counted and {W[i].address for i in (0, 1, 2)} <= r.counted


def test_a_double_signer_and_a_barred_node_are_left_out_of_the_report_which_would_otherwise_revert():
    r = round_of()
    r.commit_own(entry(0))
    honest, twofaced = [entry(i) for i in (1, 2)], entry(3)
    for p in honest + [twofaced]:
        r.add(p.commit_only())
    for p in honest + [twofaced]:
        r.add(p)
    assert W[3].address in {a.signer for a in r.report(Kind.BOOL, 3)}
    r.add(entry(3, NO).commit_only())  # a second, different seal: evidence, and out of every report
    assert r.evidence and W[3].address not in {a.signer for a in r.report(Kind.BOOL, 3)}
    assert r.report(Kind.BOOL, 3, barred={W[1].address}) is None  # two left: no quorum, nothing to submit
