"""Canonicalising the members' decisions of one committee round into at most one agreed action.
Pure: no chain, no model, no clock.

Two members agree when they chose the same tool with the same named arguments, where an amount
argument (declared per tool in a `ToolRule`) is compared after rounding to the tool's declared
precision. A tool that allows it (`median=True`) may instead agree on the other arguments and on
amounts within a relative `tolerance` of one proposed amount (the largest such cluster; on a tie
the lower one); the agreed amount is then the lower median of the cluster: always one a member
proposed, and with k >= 2f+1 agreeing members no f of them can move it outside the honest
members' range.

An action is agreed when at least `threshold` members back it. If two different actions both
reach the threshold (possible only when threshold <= n/2) nothing is agreed: that is a
misconfigured committee, never a coin toss. `noop` is an action like any other: agreeing to do
nothing sends nothing. Every vote, its reason and why it did or did not count is in the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Mapping

NOOP = "noop"


@dataclass(frozen=True)
class ToolRule:
    """How a tool's decisions are compared. `amounts` maps an argument path ("amount",
    "inputs.value") to the number of decimal places of the tool's declared precision."""

    amounts: Mapping[str, int] = field(default_factory=dict)
    median: bool = False
    tolerance: Decimal = Decimal(0)  # with median: max |a - median| / median among agreeing amounts

    def __post_init__(self):
        if self.tolerance < 0:
            raise ValueError("tolerance must be >= 0")
        if self.tolerance and not self.median:
            raise ValueError("a tolerance needs median=True (otherwise amounts must be equal at precision)")
        if self.median and len(self.amounts) != 1:
            raise ValueError("median agreement needs exactly one amount argument")


@dataclass(frozen=True)
class Vote:
    member: str
    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    model_id: str = ""


class Outcome(StrEnum):
    AGREED = "agreed"          # one action backed by >= threshold members
    NO_QUORUM = "no_quorum"    # fewer than `threshold` valid votes arrived
    DISAGREED = "disagreed"    # enough votes, no action backed by `threshold` of them
    CONFLICT = "conflict"      # two actions each backed by `threshold` (threshold <= n/2)


@dataclass(frozen=True)
class Counted:
    vote: Vote
    key: str | None            # the canonical form it was grouped by; None when invalid
    note: str = ""             # why it did not count, when it did not


@dataclass(frozen=True)
class Agreement:
    outcome: Outcome
    action: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)  # amounts as Decimal at the tool's precision
    supporters: tuple[str, ...] = ()
    votes: tuple[Counted, ...] = ()
    silent: tuple[str, ...] = ()

    @property
    def sends(self) -> bool:
        return self.outcome is Outcome.AGREED and self.action != NOOP


class InvalidVote(ValueError):
    pass


def _get(args: Mapping[str, Any], path: str) -> Any:
    cur: Any = args
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            raise InvalidVote(f"argument {path!r} is missing")
        cur = cur[part]
    return cur


def _set(args: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    out = dict(args)
    out[head] = _set(dict(out[head]), rest, value) if rest else value
    return out


def round_amount(value: Any, places: int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidVote(f"amount {value!r} is not a number")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise InvalidVote(f"amount {value!r} is not a number") from None
    if not d.is_finite() or d < 0:
        raise InvalidVote(f"amount {value!r} is not a finite non-negative number")
    return d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def normalise(vote: Vote, rule: ToolRule | None) -> tuple[str, dict[str, Any], Decimal | None]:
    """(group key, args with amounts rounded, the median amount or None). Raises InvalidVote."""
    if not isinstance(vote.action, str) or not vote.action:
        raise InvalidVote("no action")
    args = dict(vote.args)
    median_amount = None
    for path, places in (rule.amounts.items() if rule else ()):
        amount = round_amount(_get(args, path), places)
        args = _set(args, path, amount)
        if rule.median:
            median_amount = amount
    keyed = _set(args, next(iter(rule.amounts)), None) if median_amount is not None else args
    return f"{vote.action}:{_canonical_json(keyed)}", args, median_amount


def _low_median(values: list[Decimal]) -> Decimal:
    s = sorted(values)
    return s[(len(s) - 1) // 2]


def _largest_cluster(votes: list[tuple[Vote, Decimal]], tolerance: Decimal) -> list[tuple[Vote, Decimal]]:
    """The most votes within `tolerance` (relative) of one proposed amount; on a tie, the cluster
    around the lower amount (value leaves the Safe: the smaller is the safe side)."""
    best: list[tuple[Vote, Decimal]] = []
    for c in sorted({a for _, a in votes}):
        near = [(v, a) for v, a in votes if abs(a - c) <= tolerance * c]
        if len(near) > len(best):
            best = near
    return best


def canonicalise(votes: list[Vote], members: list[str], threshold: int, rules: Mapping[str, ToolRule]) -> Agreement:
    """The round's outcome from the revealed votes of `members` (others' votes are ignored)."""
    if not 1 <= threshold <= len(members):
        raise ValueError(f"threshold {threshold} must be between 1 and {len(members)}")
    allowed, seen = set(members), set()
    counted: list[Counted] = []
    groups: dict[str, list[tuple[Vote, dict[str, Any], Decimal | None]]] = {}
    for v in votes:
        if v.member not in allowed:
            counted.append(Counted(v, None, "not a member"))
            continue
        if v.member in seen:
            counted.append(Counted(v, None, "second vote of this member ignored"))
            continue
        seen.add(v.member)
        try:
            key, args, amount = normalise(v, rules.get(v.action))
        except InvalidVote as e:
            counted.append(Counted(v, None, str(e)))
            continue
        counted.append(Counted(v, key))
        groups.setdefault(key, []).append((v, args, amount))
    silent = tuple(m for m in members if m not in seen)
    valid = sum(1 for c in counted if c.key is not None)
    if valid < threshold:
        return Agreement(Outcome.NO_QUORUM, votes=tuple(counted), silent=silent)

    winners = []
    for key, group in groups.items():
        v0, args0, amount0 = group[0]
        rule = rules.get(v0.action)
        if amount0 is None:
            if len(group) >= threshold:
                winners.append((key, v0.action, args0, tuple(v.member for v, _, _ in group)))
            continue
        rest = [(v, a) for v, _, a in group]
        while len(near := _largest_cluster(rest, rule.tolerance)) >= threshold:  # a second one is a conflict
            agreed = _low_median([a for _, a in near])
            winners.append((key, v0.action, _set(args0, next(iter(rule.amounts)), agreed), tuple(v.member for v, _ in near)))
            rest = [(v, a) for v, a in rest if (v, a) not in near]
    if len(winners) > 1:
        return Agreement(Outcome.CONFLICT, votes=tuple(counted), silent=silent)
    if not winners:
        return Agreement(Outcome.DISAGREED, votes=tuple(counted), silent=silent)
    _, action, args, supporters = winners[0]
    counted = [c if c.key is None or c.vote.member in supporters else Counted(c.vote, c.key, "did not agree")
               for c in counted]
    return Agreement(Outcome.AGREED, action, args, supporters, tuple(counted), silent)
