"""The commit-reveal exchange (concilium/peering/commitreveal.py): pure, no network.

Written as the attacks: a copier who waits for reveals, a reveal that does not match, a
participant who commits twice, an outsider, a reveal sent before the threshold."""

import pytest

from concilium.peering.commitreveal import (
    TERMINAL,
    TRANSITIONS,
    CommitReveal,
    InvalidStep,
    Phase,
    Reveal,
    Step,
    commitment_of,
)

NODES = [f"0x{i:040x}" for i in range(1, 5)]  # n=4, f=1, threshold 2f+1=3
A, B, C, D = NODES
SUBJECT = b"\x22" * 32


def _cs(addr):
    from eth_utils import to_checksum_address
    return to_checksum_address(addr)


def view(me=A, threshold=3):
    return CommitReveal.open(SUBJECT, me, NODES, threshold)


def commit(who, value, salt):
    return commitment_of(SUBJECT, who, salt, value)


def test_transition_table_is_closed_and_terminal_states_have_no_exit():
    assert TERMINAL == {Phase.CLOSED, Phase.TIMED_OUT}
    for (src, _), dst in TRANSITIONS.items():
        assert src not in TERMINAL and dst in Phase
    with pytest.raises(InvalidStep):
        view().advance(Step.REVEALS_IN)


def test_own_value_is_released_only_after_threshold_commitments():
    s, _ = view().commit_own(b"yes", b"\x01" * 32)
    assert s.may_reveal is None and s.phase is Phase.COMMITTING and s.release() == s  # nothing to release yet
    s, v = s.add_commitment(B, commit(B, b"yes", b"\x02" * 32))
    assert v.kept and s.may_reveal is None and not s.ready
    s, v = s.add_commitment(C, commit(C, b"yes", b"\x03" * 32))
    assert s.ready and s.may_reveal is None  # the threshold: the caller waits its grace period for D
    s = s.release()
    assert s.phase is Phase.REVEALING and s.may_reveal == Reveal(_cs(A), b"yes", b"\x01" * 32)


def test_every_members_commitment_releases_at_once():
    s, _ = view().commit_own(b"yes", b"\x01" * 32)
    for who, salt in ((B, b"\x02" * 32), (C, b"\x03" * 32), (D, b"\x04" * 32)):
        s, _ = s.add_commitment(who, commit(who, b"yes", salt))
    assert s.phase is Phase.REVEALING and s.early == frozenset(map(_cs, NODES))


def test_full_round_closes_on_threshold_matching_reveals():
    s, _ = view().commit_own(b"yes", b"\x01" * 32)
    for who, salt in ((B, b"\x02" * 32), (C, b"\x03" * 32)):
        s, _ = s.add_commitment(who, commit(who, b"yes", salt))
    s = s.release()
    s, v = s.add_reveal(Reveal(B, b"yes", b"\x02" * 32))
    assert v.kept and s.phase is Phase.REVEALING
    s, v = s.add_reveal(Reveal(C, b"yes", b"\x03" * 32))
    assert s.phase is Phase.CLOSED and set(s.reveals) == {_cs(A), _cs(B), _cs(C)}


def test_copier_committing_after_reveals_is_never_counted():
    s, _ = view().commit_own(b"yes", b"\x01" * 32)
    for who, salt in ((B, b"\x02" * 32), (C, b"\x03" * 32)):
        s, _ = s.add_commitment(who, commit(who, b"yes", salt))
    s = s.release()
    assert s.phase is Phase.REVEALING  # own value is out: anyone may copy it now
    copied = commit(D, b"yes", b"\x09" * 32)
    s, v = s.add_commitment(D, copied)
    assert v.kept and "late" in v.reason
    s, v = s.add_reveal(Reveal(D, b"yes", b"\x09" * 32))
    assert not v.kept and "after own reveal" in v.reason and _cs(D) not in s.reveals


def test_reveal_that_does_not_match_its_commitment_is_discarded():
    s, _ = view().commit_own(b"yes", b"\x01" * 32)
    for who, salt in ((B, b"\x02" * 32), (C, b"\x03" * 32)):
        s, _ = s.add_commitment(who, commit(who, b"no", salt))
    s = s.release()
    for bad in (Reveal(B, b"yes", b"\x02" * 32), Reveal(B, b"no", b"\x07" * 32), Reveal(C, b"no", b"\x02" * 32)):
        s2, v = s.add_reveal(bad)
        assert not v.kept and "does not match" in v.reason and s2 is s


def test_commitment_binds_subject_participant_salt_and_value():
    base = commit(B, b"yes", b"\x02" * 32)
    assert base != commitment_of(b"\x23" * 32, B, b"\x02" * 32, b"yes")
    assert base != commit(C, b"yes", b"\x02" * 32)  # a peer's commitment replayed under another name
    assert base != commit(B, b"yes", b"\x03" * 32)
    assert base != commit(B, b"ye", b"\x02" * 32)


def test_replaying_a_peers_commitment_under_own_name_cannot_be_revealed():
    s, _ = view().commit_own(b"yes", b"\x01" * 32)
    s, _ = s.add_commitment(B, commit(B, b"yes", b"\x02" * 32))
    s, _ = s.add_commitment(D, commit(B, b"yes", b"\x02" * 32))  # D copies B's commitment bytes
    s = s.release()
    assert s.phase is Phase.REVEALING
    s, v = s.add_reveal(Reveal(D, b"yes", b"\x02" * 32))
    assert not v.kept


def test_two_different_commitments_from_one_participant_are_kept_as_evidence():
    s, _ = view().commit_own(b"yes", b"\x01" * 32)
    first, second = commit(B, b"yes", b"\x02" * 32), commit(B, b"no", b"\x02" * 32)
    s, v = s.add_commitment(B, first)
    s, v = s.add_commitment(B, second)
    assert not v.kept and "equivocation" in v.reason
    assert s.commitments[_cs(B)] == first and s.equivocations[0].second == second
    s, v = s.add_commitment(B, first)  # the same one again is harmless
    assert v.kept and len(s.equivocations) == 1


def test_outsiders_and_early_reveals_are_refused():
    s, _ = view().commit_own(b"yes", b"\x01" * 32)
    s2, v = s.add_commitment("0x" + "ee" * 20, b"\x00" * 32)
    assert not v.kept and "not a member" in v.reason and s2 is s
    s, _ = s.add_commitment(B, commit(B, b"yes", b"\x02" * 32))
    s2, v = s.add_reveal(Reveal(B, b"yes", b"\x02" * 32))
    assert not v.kept and "before the threshold" in v.reason
    s2, v = s.add_reveal(Reveal(C, b"yes", b"\x03" * 32))
    assert not v.kept and "no commitment" in v.reason


def test_threshold_of_others_does_not_release_a_value_not_yet_committed():
    s = view()
    for who, salt in ((B, b"\x02" * 32), (C, b"\x03" * 32), (D, b"\x04" * 32)):
        s, _ = s.add_commitment(who, commit(who, b"yes", salt))
    assert s.phase is Phase.COMMITTING and s.may_reveal is None
    s, _ = s.commit_own(b"yes", b"\x01" * 32)
    assert s.phase is Phase.REVEALING and _cs(A) in s.reveals
    with pytest.raises(InvalidStep):
        s.commit_own(b"no")


def test_timeout_ends_either_phase_and_nothing_is_accepted_after():
    s, _ = view().commit_own(b"yes", b"\x01" * 32)
    t = s.timeout()
    assert t.done and t.history[-1] == (Phase.COMMITTING, Step.TIMEOUT)
    t2, v = t.add_commitment(B, commit(B, b"yes", b"\x02" * 32))
    assert not v.kept
    with pytest.raises(InvalidStep):
        t.timeout()


def test_open_refuses_a_non_member_and_a_bad_threshold():
    with pytest.raises(InvalidStep):
        CommitReveal.open(SUBJECT, "0x" + "ee" * 20, NODES, 3)
    with pytest.raises(InvalidStep):
        CommitReveal.open(SUBJECT, A, NODES, 5)


def test_the_commitment_is_the_oracle_seal_byte_for_byte():
    from concilium.oracle.signing import seal_of
    assert commitment_of(SUBJECT, B, b"\x02" * 32, b"yes") == seal_of(b"yes", b"\x02" * 32, B, SUBJECT)
