"""What committee members send each other in a round: a commitment to a decision, its reveal,
and a signature over the agreed SafeTx. Pure: pydantic shapes and the commitment hash.

    commitment = keccak("concilium-committee/1" | safe | round | member | canonical(vote) | salt)

The round id is derived from the Safe's nonce and the schedule slot, so every member computes the
same one without talking. A commitment binds the whole vote (action, arguments, reason, model id)
to the member, the Safe and the round: a reveal that differs in anything, or a commitment copied
from another member or round, does not verify. The transport (`concilium.peering`) authenticates
the sender; the receiver also checks that `member` is that sender.
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator

from concilium.committee.canonical import Vote

TAG = b"concilium-committee/1"
HEX32 = r"^0x[0-9a-fA-F]{64}$"
ADDRESS = r"^0x[0-9a-fA-F]{40}$"
ROUND = r"^n[0-9]{1,20}-s[0-9]{1,20}$"
MAX_ARGS_JSON = 4096


def round_id(safe_nonce: int, slot: int) -> str:
    return f"n{safe_nonce}-s{slot}"


def slot_of(timestamp: float, every: float) -> int:
    return int(timestamp // every)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=lambda v: str(v) if isinstance(v, Decimal) else repr(v))


def commitment(safe: str, round_: str, vote: Vote, salt: bytes) -> bytes:
    body = _canonical({"action": vote.action, "args": dict(vote.args), "reason": vote.reason, "model_id": vote.model_id})
    parts = [TAG, to_checksum_address(safe).encode(), round_.encode(), to_checksum_address(vote.member).encode(), body.encode(), salt]
    return keccak(b"\x00".join(parts))


def new_salt() -> bytes:
    return secrets.token_bytes(32)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    round_id: str = Field(pattern=ROUND)
    member: str = Field(pattern=ADDRESS)

    @field_validator("member")
    @classmethod
    def _checksum(cls, v: str) -> str:
        return to_checksum_address(v)


class Commit(_Message):
    commitment: str = Field(pattern=HEX32)


class Reveal(_Message):
    action: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field("", max_length=1000)
    model_id: str = Field("", max_length=200)
    salt: str = Field(pattern=HEX32)

    @field_validator("args")
    @classmethod
    def _small(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(_canonical(v)) > MAX_ARGS_JSON:
            raise ValueError(f"arguments over {MAX_ARGS_JSON} bytes")
        return v

    @classmethod
    def of(cls, round_: str, vote: Vote, salt: bytes) -> "Reveal":
        return cls(round_id=round_, member=vote.member, action=vote.action, args=json.loads(_canonical(dict(vote.args))),
                   reason=vote.reason[:1000], model_id=vote.model_id[:200], salt="0x" + salt.hex())

    def vote(self) -> Vote:
        return Vote(self.member, self.action, self.args, self.reason, self.model_id)

    def matches(self, safe: str, commit: Commit) -> bool:
        """This reveal opens `commit` (same member, round, and the hash of everything revealed)."""
        return (commit.member == self.member and commit.round_id == self.round_id
                and commitment(safe, self.round_id, self.vote(), bytes.fromhex(self.salt[2:])).hex() == commit.commitment[2:].lower())


class SafeSignature(_Message):
    safe_tx_hash: str = Field(pattern=HEX32)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
