"""The YAML a user writes, as pydantic models.

In: a YAML file (or text). Out: a validated `Spec`, or a `SpecError` that lists every problem
with its YAML path and line, e.g. `agents[0].policy.max_value_per_tx (line 14): expected an
amount like "0.5 ether"`. `${VAR}` and `${VAR:-default}` in any string are read from the
environment, so secrets and deploy-time addresses stay out of the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from eth_utils import is_checksum_address
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from concilium.units import parse_amount, parse_duration
from concilium.yamlfile import load_yaml, parse_yaml

Wei = Annotated[int, BeforeValidator(parse_amount)]
GasPrice = Annotated[int, BeforeValidator(lambda v: parse_amount(v, default_unit="gwei"))]
Seconds = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
TOOL_NAMES = (
    "get_balance",
    "erc20_balance",
    "read_contract",
    "get_block",
    "recent_events",
    "send_native",
    "erc20_transfer",
    "write_contract",
)
WRITE_TOOLS = ("send_native", "erc20_transfer", "write_contract")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Model):
    """Either `serve: bundled` or `serve: bundled:<family>` (concilium starts vLLM with a bundled
    model: smollm2, the default, or gemma3-270m), `serve: <HF dir or hub id>` (concilium starts
    vLLM with that model), or `url` of an existing vLLM server."""

    serve: str | None = None
    url: str | None = None
    name: str | None = None
    temperature: float = Field(0.0, ge=0, le=2)
    seed: int = 0
    max_tokens: int = Field(200, ge=16, le=4096)
    timeout: Seconds = 120.0

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSpec":
        if (self.serve is None) == (self.url is None):
            raise ValueError('give exactly one of `serve: bundled` or `url: "http://host:8000/v1"`')
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        return self


class ChainSpec(_Model):
    rpc: Literal["embedded"] | str | list[str]
    chain_id: int | None = None
    confirmations: int = Field(0, ge=0, le=64)
    receipt_timeout: Seconds = 120.0

    @field_validator("rpc")
    @classmethod
    def _urls(cls, v: str | list[str]) -> str | list[str]:
        urls = [v] if isinstance(v, str) else v
        if not urls:
            raise ValueError('give at least one RPC URL, or "embedded"')
        for u in urls:
            if u != "embedded" and not u.startswith(("http://", "https://", "ws://", "wss://")):
                raise ValueError(f'expected "embedded" or an http(s):// or ws(s):// URL, got {u!r}')
        return v

    @property
    def embedded(self) -> bool:
        return self.rpc == "embedded"

    @property
    def urls(self) -> list[str]:
        return [self.rpc] if isinstance(self.rpc, str) else list(self.rpc)


class WalletSpec(_Model):
    """`dev_account: N` (embedded chain only) or `keystore: path` + `password_env: VAR`."""

    dev_account: int | None = Field(None, ge=0, le=9)
    keystore: Path | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "WalletSpec":
        if (self.dev_account is None) == (self.keystore is None):
            raise ValueError("give exactly one of `dev_account: 0` or `keystore: ./keys/name.json`")
        if self.keystore is not None and not self.password_env:
            raise ValueError("a keystore needs `password_env: VAR` naming the variable that holds its password")
        return self


class WalletRef(_Model):
    wallet: str


def _address(v: Any) -> Any:
    if isinstance(v, str) and not _HEX_ADDRESS.match(v):
        raise ValueError(f'expected a 0x-prefixed 40-hex-digit address or {{wallet: name}}, got "{v}"')
    if isinstance(v, str) and v[2:] != v[2:].lower() and v[2:] != v[2:].upper() and not is_checksum_address(v):
        raise ValueError(f'"{v}" is mixed-case but its EIP-55 checksum is wrong (a typo?); check the address, or write it all lower-case')
    return v


AddressSpec = Annotated[str | WalletRef, BeforeValidator(_address)]


class ContractSpec(_Model):
    address: Annotated[str, BeforeValidator(_address)]
    abi: str = Field(description='"erc20", or a path to an ABI / compiled artifact JSON file')


class CallObservation(_Model):
    contract: str
    function: str
    args: list[Any] = []


class BalanceOfObservation(_Model):
    token: str
    holder: str


class EventsObservation(_Model):
    contract: str
    event: str
    blocks: int = Field(100, ge=1, le=10_000)


class Observation(_Model):
    """One read in the agent's observation; exactly one key per item."""

    balance: str | None = None
    erc20_balance: BalanceOfObservation | None = None
    call: CallObservation | None = None
    events: EventsObservation | None = None
    block: bool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Observation":
        set_ = [k for k, v in self if v is not None]
        if len(set_) != 1:
            raise ValueError(
                "each observe item has exactly one of: balance, erc20_balance, call, events, block"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k, v in self if v is not None)


class TokenLimit(_Model):
    per_tx: float = Field(gt=0)
    per_day: float | None = Field(None, gt=0)


class PolicySpec(_Model):
    """What the guard enforces in code, whatever the model says."""

    recipients: list[str] = []
    contracts: dict[str, list[str]] = {}
    max_value_per_tx: Wei = 0
    max_value_per_day: Wei | None = None
    token_limits: dict[str, TokenLimit] = {}
    max_gas_price: GasPrice | None = None
    simulate: bool = True
    dry_run: bool = False


class EventTrigger(_Model):
    contract: str
    event: str
    where: dict[str, Any] = {}


class ScheduleSpec(_Model):
    every: Seconds | None = None
    cron: str | None = None
    on_block: int | None = Field(None, ge=1)
    on_event: EventTrigger | None = None
    jitter: Seconds | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                if len(v.split()) != 5:
                    raise ValueError
                CronTrigger.from_crontab(v)
            except ValueError:
                raise ValueError(f'expected a five-field cron expression like "*/5 * * * *", got {v!r}') from None
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> "ScheduleSpec":
        if sum(v is not None for v in (self.every, self.cron, self.on_block, self.on_event)) != 1:
            raise ValueError('give exactly one of every: "30s", cron: "*/5 * * * *", on_block: 1, on_event: {...}')
        return self


class MemorySpec(_Model):
    recall: int = Field(0, ge=0, le=50)


class AgentSpec(_Model):
    name: Name
    model: str
    chain: str
    wallet: str
    instructions: str = Field(min_length=1, max_length=4000)
    mode: Literal["structured", "tools"] = "structured"
    observe: list[Observation] = []
    tools: list[Literal[TOOL_NAMES]] = []  # type: ignore[valid-type]
    policy: PolicySpec = PolicySpec()
    schedule: ScheduleSpec = ScheduleSpec(every=60.0)
    memory: MemorySpec = MemorySpec()


class ApiSpec(_Model):
    """The service's HTTP API. State changes need `Authorization: Bearer <token>`; the token
    comes from the environment variable named here and never from the YAML itself."""

    host: str = "127.0.0.1"
    port: int = Field(8600, ge=0, le=65535)
    token_env: str = "CONCILIUM_API_TOKEN"
    enabled: bool = True


class Spec(_Model):
    version: Literal[1]
    models: dict[Name, ModelSpec] = {}
    chains: dict[Name, ChainSpec] = {}
    wallets: dict[Name, WalletSpec] = {}
    addresses: dict[Name, AddressSpec] = {}
    contracts: dict[Name, ContractSpec] = {}
    agents: list[AgentSpec] = []
    state_dir: Path | None = None
    memory_server: str | None = Field(None, description="a chroma server URL; default: embedded in the state dir")
    store_url: str | None = Field(None, description="state database, e.g. postgresql+asyncpg://user@host/db; default: SQLite in the state dir")
    api: "ApiSpec" = Field(default_factory=lambda: ApiSpec())
    base_dir: Path = Field(default=Path("."), exclude=True)

    def cross_references(self) -> list[tuple[tuple, str]]:
        return _cross_references(self)

    def agent(self, name: str) -> AgentSpec:
        for a in self.agents:
            if a.name == name:
                return a
        raise KeyError(name)


# --------------------------------------------------------------------------- loading


def load_spec(path: str | Path) -> Spec:
    """Read, interpolate and validate a YAML file. Raises SpecError listing every problem."""
    return load_yaml(path, Spec)


def parse_spec(text: str, source: str = "spec", base_dir: Path | None = None) -> Spec:
    return parse_yaml(text, Spec, source, base_dir)


def _cross_references(spec: Spec) -> list[tuple[tuple, str]]:
    """Names used in agents must exist in their sections; checked after the shapes are valid."""
    out: list[tuple[tuple, str]] = []

    def need(section: dict, name: str, loc: tuple, what: str) -> None:
        if name not in section:
            known = ", ".join(sorted(section)) or "(none)"
            out.append((loc, f"unknown {what} {name!r}; defined: {known}"))

    for name, addr in spec.addresses.items():
        if isinstance(addr, WalletRef):
            need(spec.wallets, addr.wallet, ("addresses", name, "wallet"), "wallet")
    for i, a in enumerate(spec.agents):
        at = ("agents", i)
        need(spec.models, a.model, at + ("model",), "model")
        need(spec.chains, a.chain, at + ("chain",), "chain")
        need(spec.wallets, a.wallet, at + ("wallet",), "wallet")
        chain = spec.chains.get(a.chain)
        wallet = spec.wallets.get(a.wallet)
        if chain and wallet and wallet.dev_account is not None and not chain.embedded:
            out.append((at + ("wallet",), f"wallet {a.wallet!r} uses a dev account, which only exists on an embedded chain; use a keystore"))
        for j, r in enumerate(a.policy.recipients):
            need(spec.addresses, r, at + ("policy", "recipients", j), "address")
        for c, fns in a.policy.contracts.items():
            need(spec.contracts, c, at + ("policy", "contracts", c), "contract")
        for t in a.policy.token_limits:
            need(spec.contracts, t, at + ("policy", "token_limits", t), "contract")
        for j, o in enumerate(a.observe):
            loc = at + ("observe", j)
            if o.balance is not None:
                need(spec.addresses, o.balance, loc + ("balance",), "address")
            if o.erc20_balance is not None:
                need(spec.contracts, o.erc20_balance.token, loc + ("erc20_balance", "token"), "contract")
                need(spec.addresses, o.erc20_balance.holder, loc + ("erc20_balance", "holder"), "address")
            if o.call is not None:
                need(spec.contracts, o.call.contract, loc + ("call", "contract"), "contract")
            if o.events is not None:
                need(spec.contracts, o.events.contract, loc + ("events", "contract"), "contract")
        if a.schedule.on_event is not None:
            need(spec.contracts, a.schedule.on_event.contract, at + ("schedule", "on_event", "contract"), "contract")
        writes = set(a.tools) & set(WRITE_TOOLS)
        if "write_contract" in writes and not a.policy.contracts:
            out.append((at + ("policy",), "write_contract needs policy.contracts: {contract: [function, ...]} naming what it may call"))
        if {"send_native", "erc20_transfer"} & writes and not a.policy.recipients:
            out.append((at + ("policy",), "send tools need policy.recipients: a list of named addresses they may pay"))
        if {"send_native", "write_contract"} & writes and not a.policy.max_value_per_tx:
            out.append((at + ("policy", "max_value_per_tx"), 'tools that send ETH need policy.max_value_per_tx, like "0.5 ether"'))
        if "erc20_transfer" in writes and not a.policy.token_limits:
            out.append((at + ("policy",), "erc20_transfer needs policy.token_limits: {token: {per_tx: 100}}"))
    names = [a.name for a in spec.agents]
    for i, n in enumerate(names):
        if names.index(n) != i:
            out.append((("agents", i, "name"), f"agent name {n!r} is used twice; names must be unique"))
    return out
