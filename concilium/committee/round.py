"""One member's view of a committee round, as an explicit state machine (the open-autonomy way):
named states, named events, one transition table; the round's data in one frozen value that each
transition returns anew. Pure: the member process (not built yet) drives it from its tasks
(planner, peer exchange, signer, submitter) and persists each value.

    OBSERVING --decided--> COMMITTING --commits_in--> REVEALING --agreed--> SIGNING
        --signatures_in--> SUBMITTING --executed--> EXECUTED
    REVEALING --agreed_noop--> NOOP, --disagreed--> DISAGREED
    COMMITTING / REVEALING / SIGNING --timeout--> NO_QUORUM
    SIGNING --policy_refused--> REFUSED     (a member never signs what its own guard refuses)
    SIGNING / SUBMITTING --executed--> EXECUTED   (a peer submitted first: still exactly once)
    SUBMITTING --safe_refused--> REFUSED, --nonce_taken--> FAILED
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from concilium.committee.canonical import Agreement, Outcome


class RoundState(StrEnum):
    OBSERVING = "observing"
    COMMITTING = "committing"
    REVEALING = "revealing"
    SIGNING = "signing"
    SUBMITTING = "submitting"
    EXECUTED = "executed"
    NOOP = "noop"
    DISAGREED = "disagreed"
    NO_QUORUM = "no_quorum"
    REFUSED = "refused"
    FAILED = "failed"


class RoundEvent(StrEnum):
    DECIDED = "decided"                # own decision planned and passed own guard; commitment sent
    COMMITS_IN = "commits_in"          # commitments from >= threshold members
    AGREED = "agreed"                  # reveals canonicalised to one action that sends
    AGREED_NOOP = "agreed_noop"        # ... to doing nothing
    DISAGREED = "disagreed"            # enough reveals, no action backed by the threshold
    TIMEOUT = "timeout"                # the phase's deadline passed without enough peers
    POLICY_REFUSED = "policy_refused"  # own guard refuses the agreed action: do not sign
    SIGNATURES_IN = "signatures_in"    # a quorum of valid signatures over the SafeTx
    EXECUTED = "executed"              # the SafeTx executed (by this member or a peer)
    SAFE_REFUSED = "safe_refused"      # the Safe or its onchain guard refused it
    NONCE_TAKEN = "nonce_taken"        # another SafeTx consumed the nonce


S, E = RoundState, RoundEvent
TRANSITIONS: dict[tuple[RoundState, RoundEvent], RoundState] = {
    (S.OBSERVING, E.DECIDED): S.COMMITTING,
    (S.COMMITTING, E.COMMITS_IN): S.REVEALING,
    (S.COMMITTING, E.TIMEOUT): S.NO_QUORUM,
    (S.REVEALING, E.AGREED): S.SIGNING,
    (S.REVEALING, E.AGREED_NOOP): S.NOOP,
    (S.REVEALING, E.DISAGREED): S.DISAGREED,
    (S.REVEALING, E.TIMEOUT): S.NO_QUORUM,
    (S.SIGNING, E.POLICY_REFUSED): S.REFUSED,
    (S.SIGNING, E.SIGNATURES_IN): S.SUBMITTING,
    (S.SIGNING, E.TIMEOUT): S.NO_QUORUM,
    (S.SIGNING, E.EXECUTED): S.EXECUTED,
    (S.SIGNING, E.NONCE_TAKEN): S.FAILED,
    (S.SUBMITTING, E.EXECUTED): S.EXECUTED,
    (S.SUBMITTING, E.SAFE_REFUSED): S.REFUSED,
    (S.SUBMITTING, E.NONCE_TAKEN): S.FAILED,
}
TERMINAL = frozenset(s for s in RoundState if not any(src == s for src, _ in TRANSITIONS))


class InvalidTransition(ValueError):
    pass


@dataclass(frozen=True)
class CommitteeRound:
    """The round as one member sees it; `advance` returns the next value, never mutates."""

    round_id: str
    member: str
    safe_nonce: int
    state: RoundState = RoundState.OBSERVING
    agreement: Agreement | None = None
    safe_tx_hash: str | None = None
    signers: tuple[str, ...] = ()
    tx_hash: str | None = None
    reason: str = ""
    history: tuple[tuple[RoundState, RoundEvent], ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def advance(self, event: RoundEvent, **updates: Any) -> CommitteeRound:
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise InvalidTransition(f"round {self.round_id}: no transition from {self.state} on {event}")
        self._check(event, updates)
        return replace(self, state=nxt, history=self.history + ((self.state, event),), **updates)

    @staticmethod
    def _check(event: RoundEvent, updates: dict[str, Any]) -> None:
        """The facts each event must bring, so a terminal record always says why."""
        need = {E.AGREED: ("agreement",), E.AGREED_NOOP: ("agreement",), E.DISAGREED: ("agreement",),
                E.SIGNATURES_IN: ("safe_tx_hash", "signers"), E.EXECUTED: ("tx_hash",),
                E.TIMEOUT: ("reason",), E.POLICY_REFUSED: ("reason",), E.SAFE_REFUSED: ("reason",),
                E.NONCE_TAKEN: ("reason",)}.get(event, ())
        if missing := [k for k in need if not updates.get(k)]:
            raise InvalidTransition(f"event {event} needs {', '.join(missing)}")
        if "agreement" in need and reveal_event(updates["agreement"]) is not event:
            raise InvalidTransition(f"event {event} does not match the agreement's outcome {updates['agreement'].outcome}")


def reveal_event(agreement: Agreement) -> RoundEvent:
    """The event that the canonicalised reveals lead to (NO_QUORUM: the phase timed out)."""
    if agreement.outcome is Outcome.AGREED:
        return RoundEvent.AGREED if agreement.sends else RoundEvent.AGREED_NOOP
    if agreement.outcome is Outcome.NO_QUORUM:
        return RoundEvent.TIMEOUT
    return RoundEvent.DISAGREED
