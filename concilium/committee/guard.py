"""CommitteeGuard's configuration (what the YAML's onchain limits become) and a reader that
checks a deployed guard against it. Amounts are base units (wei, token base units) per UTC day."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import is_address, keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.committee.safetx import ZERO_ADDRESS, SafeTx

MIN_DELAY = 3600
GUARD_ABI = artifact("CommitteeGuard")["abi"]


def _address(v: str) -> str:
    if not isinstance(v, str) or not is_address(v):
        raise ValueError(f"{v!r} is not an address")
    return to_checksum_address(v)


class GuardConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    recipients: list[str] = Field(default_factory=list)   # may receive ETH (empty calldata) and tokens
    targets: list[str] = Field(default_factory=list)      # may be called with any calldata (and ETH)
    spenders: list[str] = Field(default_factory=list)     # may be approved tokens
    token_limits: dict[str, int] = Field(default_factory=dict)  # token -> base units per day
    eth_per_day: int = 0                                  # wei per day
    delay: int = 2 * 86400                                # seconds before a scheduled change may run
    guardian: str = ZERO_ADDRESS                          # may cancel a pending change, nothing else

    @field_validator("recipients", "targets", "spenders")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        return [_address(a) for a in v]

    @field_validator("token_limits")
    @classmethod
    def _tokens(cls, v: dict[str, int]) -> dict[str, int]:
        out = {}
        for k, n in v.items():
            if n < 0:
                raise ValueError(f"token limit for {k} is negative")
            out[_address(k)] = n
        return out

    @field_validator("guardian")
    @classmethod
    def _guardian(cls, v: str) -> str:
        return _address(v)

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: int) -> int:
        if not MIN_DELAY <= v <= 30 * 86400:
            raise ValueError("delay must be between 1 hour and 30 days (seconds)")
        return v

    @model_validator(mode="after")
    def _token_is_not_a_target(self) -> GuardConfig:
        if both := sorted(set(self.targets) & set(self.token_limits)):
            raise ValueError(f"{', '.join(both)}: a token cannot also be a target (any calldata would reach it)")
        return self

    def constructor_args(self, safe: str) -> tuple:
        tokens = list(self.token_limits)
        return (to_checksum_address(safe), (self.recipients, self.targets, self.spenders, tokens,
                [self.token_limits[t] for t in tokens], self.eth_per_day, self.delay, self.guardian))


def change_id(to: str, data: bytes) -> bytes:
    """The id under which the guard schedules a change (keccak256(abi.encode(to, data)))."""
    return keccak(encode(["address", "bytes"], [to_checksum_address(to), data]))


class CommitteeGuardReader:
    """A deployed CommitteeGuard: check it against a config, read today's headroom, build the
    SafeTx that schedules a change (the quorum signs it like any other)."""

    def __init__(self, chain: ChainClient, address: str):
        self.address = to_checksum_address(address)
        self.contract = chain.contract(self.address, GUARD_ABI)

    async def problems(self, safe: str, config: GuardConfig) -> list[str]:
        """What differs from `config` (allowlists are checked entry by entry: extra onchain entries
        are not listed; read the guard's *Set events for those)."""
        f = self.contract.functions
        out = []
        if (bound := await f.safe().call()) != to_checksum_address(safe):
            out.append(f"guard {self.address} is bound to Safe {bound}, not {safe}")
        if (d := await f.delay().call()) != config.delay:
            out.append(f"guard delay is {d} s, the config says {config.delay} s")
        if (g := await f.guardian().call()) != config.guardian:
            out.append(f"guard guardian is {g}, the config says {config.guardian}")
        if (e := await f.dayLimit(ZERO_ADDRESS).call()) != config.eth_per_day:
            out.append(f"guard ETH day limit is {e} wei, the config says {config.eth_per_day}")
        for name, fn, entries in (("recipient", f.isRecipient, config.recipients), ("target", f.isTarget, config.targets),
                                  ("spender", f.isSpender, config.spenders)):
            for a in entries:
                if not await fn(a).call():
                    out.append(f"{a} is not an allowlisted {name} in the guard")
        for token, limit in config.token_limits.items():
            if not await f.isToken(token).call():
                out.append(f"token {token} is not configured in the guard")
            elif (n := await f.dayLimit(token).call()) != limit:
                out.append(f"guard day limit of token {token} is {n}, the config says {limit}")
        return out

    async def remaining_today(self, asset: str = ZERO_ADDRESS) -> int:
        return await self.contract.functions.remainingToday(to_checksum_address(asset)).call()

    def schedule_tx(self, to: str, data: bytes) -> SafeTx:
        """The SafeTx by which the quorum schedules `to.call(data)` (to = the Safe or this guard)."""
        encoded = self.contract.encode_abi("schedule", args=[to_checksum_address(to), data])
        return SafeTx(to=self.address, data=bytes.fromhex(encoded[2:]))
