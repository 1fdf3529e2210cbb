"""Fast tests (no chain, no model): canonicalising members' decisions, and the round's states."""

from __future__ import annotations

from decimal import Decimal

import pytest

from concilium.committee.canonical import NOOP, Agreement, Outcome, ToolRule, Vote, canonicalise, round_amount
from concilium.committee.round import TERMINAL, TRANSITIONS, CommitteeRound, InvalidTransition, RoundEvent, RoundState, reveal_event

MEMBERS = ["m1", "m2", "m3", "m4"]
RULES = {
    "send_native": ToolRule(amounts={"amount": 2}),                                   # ETH at 0.01
    "erc20_transfer": ToolRule(amounts={"amount": 0}, median=True, tolerance=Decimal("0.05")),
    "write_contract": ToolRule(amounts={"inputs.value": 3}),
}


def send(member, amount, to="hot_wallet", reason="hot wallet low"):
    return Vote(member, "send_native", {"to": to, "amount": amount}, reason, model_id="smollm2")


def test_same_tool_same_args_agree_at_the_declared_precision():
    a = canonicalise([send("m1", 1.5), send("m2", "1.499"), send("m3", Decimal("1.5049")), send("m4", 1.3)], MEMBERS, 3, RULES)
    assert a.outcome is Outcome.AGREED and a.action == "send_native" and a.sends
    assert a.args == {"to": "hot_wallet", "amount": Decimal("1.50")}
    assert a.supporters == ("m1", "m2", "m3")
    assert [c.note for c in a.votes] == ["", "", "", "did not agree"]


def test_rounding_is_half_even_and_exact():
    assert round_amount(0.015, 2) == Decimal("0.02") and round_amount("0.025", 2) == Decimal("0.02")
    assert round_amount(0.1 + 0.2, 2) == Decimal("0.30")


def test_different_recipient_is_a_different_action():
    a = canonicalise([send("m1", 1.5), send("m2", 1.5), send("m3", 1.5, to="outsider"), send("m4", 1.5, to="outsider")],
                     MEMBERS, 3, RULES)
    assert a.outcome is Outcome.DISAGREED and not a.sends and a.action is None


def test_one_byzantine_member_never_changes_the_outcome():
    honest = [send(m, 1.5) for m in ("m1", "m2", "m3")]
    for byz in (send("m4", 1.5, to="outsider"), send("m4", 99), Vote("m4", "erc20_transfer", {"amount": 5}),
                Vote("m4", NOOP), Vote("m4", "send_native", {"to": "hot_wallet", "amount": "NaN"}),
                Vote("m4", "send_native", {"to": "hot_wallet"}), send("m4", -1), send("m4", True)):
        for order in (honest + [byz], [byz] + honest):
            a = canonicalise(order, MEMBERS, 3, RULES)
            assert a.outcome is Outcome.AGREED and a.args == {"to": "hot_wallet", "amount": Decimal("1.50")}
            assert set(a.supporters) == {"m1", "m2", "m3"}


def test_silence_and_invalid_votes_make_no_quorum():
    a = canonicalise([send("m1", 1.5), send("m2", 1.5)], MEMBERS, 3, RULES)
    assert a.outcome is Outcome.NO_QUORUM and a.silent == ("m3", "m4")
    b = canonicalise([send("m1", 1.5), send("m2", 1.5), send("m3", "lots")], MEMBERS, 3, RULES)
    assert b.outcome is Outcome.NO_QUORUM and "not a number" in b.votes[2].note


def test_outsiders_and_double_votes_do_not_count():
    votes = [send("m1", 1.5), send("m1", 1.5), send("eve", 1.5), send("mallory", 1.5), send("m2", 1.5)]
    a = canonicalise(votes, MEMBERS, 3, RULES)
    assert a.outcome is Outcome.NO_QUORUM
    assert [c.note for c in a.votes] == ["", "second vote of this member ignored", "not a member", "not a member", ""]


def test_median_tool_takes_the_lower_median_of_agreeing_amounts():
    votes = [Vote(m, "erc20_transfer", {"token": "usdc", "to": "hot_wallet", "amount": x})
             for m, x in (("m1", 100), ("m2", 103), ("m3", 98), ("m4", 5000))]
    a = canonicalise(votes, MEMBERS, 3, RULES)
    assert a.outcome is Outcome.AGREED and a.args["amount"] == Decimal("100") and a.args["token"] == "usdc"
    assert set(a.supporters) == {"m1", "m2", "m3"}
    # the agreed amount is one a member proposed, and an outlier cannot drag it
    votes[3] = Vote("m4", "erc20_transfer", {"token": "usdc", "to": "hot_wallet", "amount": 0})
    assert canonicalise(votes, MEMBERS, 3, RULES).args["amount"] == Decimal("100")


def test_one_byzantine_amount_cannot_leave_the_honest_range():
    import random
    rng = random.Random(11)
    for _ in range(500):
        honest = [rng.randint(100, 104) for _ in range(3)]
        byz = rng.choice([0, 1, 95, 99, 105, 110, 10**9, rng.randint(0, 300)])
        votes = [Vote(m, "erc20_transfer", {"token": "usdc", "to": "hot_wallet", "amount": x})
                 for m, x in zip(MEMBERS, honest + [byz])]
        rng.shuffle(votes)
        a = canonicalise(votes, MEMBERS, 3, RULES)
        assert a.outcome is Outcome.AGREED, (honest, byz)
        assert min(honest) <= a.args["amount"] <= max(honest), (honest, byz, a.args)


def test_two_amount_clusters_at_threshold_conflict_the_larger_wins():
    votes = [Vote(m, "erc20_transfer", {"token": "usdc", "to": "hot_wallet", "amount": x})
             for m, x in (("m1", 100), ("m2", 101), ("m3", 200), ("m4", 201))]
    assert canonicalise(votes, MEMBERS, 2, RULES).outcome is Outcome.CONFLICT  # refused, not chosen
    votes[3] = Vote("m4", NOOP)
    a = canonicalise(votes, MEMBERS, 2, RULES)  # {100, 101} vs {200}: the pair wins
    assert a.outcome is Outcome.AGREED and a.args["amount"] == Decimal("100")


def test_median_outside_tolerance_disagrees():
    votes = [Vote(m, "erc20_transfer", {"token": "usdc", "to": "hot_wallet", "amount": x})
             for m, x in (("m1", 100), ("m2", 120), ("m3", 80), ("m4", 200))]
    assert canonicalise(votes, MEMBERS, 3, RULES).outcome is Outcome.DISAGREED


def test_nested_amounts_and_argument_order():
    v = lambda m, x, order: Vote(m, "write_contract", dict(order and  # noqa: E731
                                 {"inputs": {"value": x, "to": "vault"}, "contract": "c", "function": "f"} or
                                 {"function": "f", "contract": "c", "inputs": {"to": "vault", "value": x}}))
    a = canonicalise([v("m1", 1.0001, True), v("m2", "1.0004", False), v("m3", 1, True)], MEMBERS, 3, RULES)
    assert a.outcome is Outcome.AGREED and a.args["inputs"]["value"] == Decimal("1.000")


def test_agreeing_to_do_nothing_sends_nothing():
    a = canonicalise([Vote(m, NOOP, reason="all fine") for m in MEMBERS[:3]] + [send("m4", 1)], MEMBERS, 3, RULES)
    assert a.outcome is Outcome.AGREED and a.action == NOOP and not a.sends


def test_two_actions_both_at_threshold_is_a_conflict_not_a_coin_toss():
    a = canonicalise([send("m1", 1), send("m2", 1), send("m3", 2), send("m4", 2)], MEMBERS, 2, RULES)
    assert a.outcome is Outcome.CONFLICT and not a.sends


def test_rules_and_threshold_are_checked():
    with pytest.raises(ValueError, match="threshold"):
        canonicalise([], MEMBERS, 5, RULES)
    with pytest.raises(ValueError, match="median"):
        ToolRule(amounts={"a": 1}, tolerance=Decimal("0.1"))
    with pytest.raises(ValueError, match="exactly one amount"):
        ToolRule(amounts={"a": 1, "b": 2}, median=True)


# ----------------------------------------------------------------------------- the round


AGREED = canonicalise([send(m, 1.5) for m in MEMBERS[:3]], MEMBERS, 3, RULES)
NOOP_AGREED = canonicalise([Vote(m, NOOP) for m in MEMBERS[:3]], MEMBERS, 3, RULES)
SPLIT = canonicalise([send("m1", 1), send("m2", 2), send("m3", 3)], MEMBERS, 3, RULES)


def start() -> CommitteeRound:
    return CommitteeRound("r1", "m1", safe_nonce=7)


def test_happy_path_ends_executed_with_its_trail():
    r = (start().advance(RoundEvent.DECIDED).advance(RoundEvent.COMMITS_IN)
         .advance(reveal_event(AGREED), agreement=AGREED)
         .advance(RoundEvent.SIGNATURES_IN, safe_tx_hash="0xab", signers=("m1", "m2", "m3"))
         .advance(RoundEvent.EXECUTED, tx_hash="0xcd"))
    assert r.state is RoundState.EXECUTED and r.done
    assert [s for s, _ in r.history] == ["observing", "committing", "revealing", "signing", "submitting"]
    assert r.agreement is AGREED and r.tx_hash == "0xcd"


def test_a_peer_submitting_first_still_ends_executed():
    r = start().advance(RoundEvent.DECIDED).advance(RoundEvent.COMMITS_IN).advance(RoundEvent.AGREED, agreement=AGREED)
    assert r.advance(RoundEvent.EXECUTED, tx_hash="0xpeer").state is RoundState.EXECUTED


@pytest.mark.parametrize("agreement,state", [(NOOP_AGREED, RoundState.NOOP), (SPLIT, RoundState.DISAGREED)])
def test_reveals_that_send_nothing_end_the_round(agreement, state):
    r = start().advance(RoundEvent.DECIDED).advance(RoundEvent.COMMITS_IN)
    assert r.advance(reveal_event(agreement), agreement=agreement).state is state


def test_an_event_must_match_the_agreement():
    r = start().advance(RoundEvent.DECIDED).advance(RoundEvent.COMMITS_IN)
    with pytest.raises(InvalidTransition, match="does not match"):
        r.advance(RoundEvent.AGREED, agreement=SPLIT)
    with pytest.raises(InvalidTransition, match="does not match"):
        r.advance(RoundEvent.AGREED, agreement=NOOP_AGREED)


def test_terminal_states_say_why():
    r = start().advance(RoundEvent.DECIDED)
    with pytest.raises(InvalidTransition, match="needs reason"):
        r.advance(RoundEvent.TIMEOUT)
    t = r.advance(RoundEvent.TIMEOUT, reason="2 of 4 commitments by the deadline")
    assert t.state is RoundState.NO_QUORUM and t.reason.startswith("2 of 4")


def test_member_refuses_to_sign_what_its_guard_refuses():
    r = start().advance(RoundEvent.DECIDED).advance(RoundEvent.COMMITS_IN).advance(RoundEvent.AGREED, agreement=AGREED)
    assert r.advance(RoundEvent.POLICY_REFUSED, reason="recipient not allowed").state is RoundState.REFUSED


def test_no_transition_out_of_a_terminal_state_and_none_skipped():
    assert TERMINAL == {RoundState.EXECUTED, RoundState.NOOP, RoundState.DISAGREED, RoundState.NO_QUORUM,
                        RoundState.REFUSED, RoundState.FAILED}
    r = start()
    with pytest.raises(InvalidTransition, match="no transition from observing on signatures_in"):
        r.advance(RoundEvent.SIGNATURES_IN, safe_tx_hash="0x1", signers=("m1",))
    done = r.advance(RoundEvent.DECIDED).advance(RoundEvent.TIMEOUT, reason="silence")
    for event in RoundEvent:
        with pytest.raises(InvalidTransition):
            done.advance(event, reason="x", tx_hash="0x1", safe_tx_hash="0x1", signers=("a",), agreement=AGREED)


def test_every_non_terminal_state_can_reach_an_end():
    reach = {s for s in TERMINAL}
    changed = True
    while changed:
        changed = False
        for (src, _), dst in TRANSITIONS.items():
            if dst in reach and src not in reach:
                reach.add(src)
                changed = True
    assert reach == set(RoundState)


def test_agreement_value_is_immutable():
    with pytest.raises(Exception):
        AGREED.outcome = Outcome.DISAGREED  # type: ignore[misc]
    assert isinstance(AGREED, Agreement)
