"""The YAML a user writes, as pydantic models.

In: a YAML file (or text). Out: a validated `Spec`, or a `SpecError` that lists every problem
with its YAML path and line, e.g. `agents[0].policy.max_value_per_tx (line 14): expected an
amount like "0.5 ether"`. `${VAR}` and `${VAR:-default}` in any string are read from the
environment, so secrets and deploy-time addresses stay out of the file.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from eth_utils import is_checksum_address
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from concilium.triggers import TRIGGERS
from concilium.seams.observation import OBSERVATIONS
from concilium.seams.tool import TOOLS
from concilium.units import parse_amount, parse_duration
from concilium.yamlfile import load_yaml, parse_yaml

Wei = Annotated[int, BeforeValidator(parse_amount)]
GasPrice = Annotated[int, BeforeValidator(lambda v: parse_amount(v, default_unit="gwei"))]
Seconds = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _known_tool(name: Any) -> Any:
    if not isinstance(name, str) or name not in TOOLS:
        raise ValueError(f"unknown tool {name!r}; known: {', '.join(TOOLS.names())}")
    return name


ToolName = Annotated[str, BeforeValidator(_known_tool)]


class StrictModel(BaseModel):
    """A YAML section: unknown keys are errors, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(StrictModel):
    """Either `serve: bundled` or `serve: bundled:<family>` (concilium starts vLLM with a bundled
    model: smollm2, the default, or gemma3-270m), `serve: <HF dir or hub id>` (concilium starts
    vLLM with that model), or `url` of an existing vLLM server. `family` names the model family
    (e.g. qwen2.5) for model ids and oracle requests that need agreement across families; a
    bundled model knows its own, any other is "unknown" unless given."""

    serve: str | None = None
    url: str | None = None
    name: str | None = None
    family: str | None = None
    temperature: float = Field(0.0, ge=0, le=2)
    seed: int = 0
    max_tokens: int = Field(200, ge=16, le=4096)
    timeout: Seconds = 120.0

    @field_validator("family")
    @classmethod
    def _family(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", v):
            raise ValueError(f"family must be a short name such as qwen2.5 or llama3 (letters, digits, '.', '_', '-'), not {v!r}")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSpec":
        if (self.serve is None) == (self.url is None):
            raise ValueError('give exactly one of `serve: bundled` or `url: "http://host:8000/v1"`')
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        return self


class ChainSpec(StrictModel):
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


class WalletSpec(StrictModel):
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


class WalletRef(StrictModel):
    wallet: str


def checked_address(v: Any) -> Any:
    if isinstance(v, str) and not _HEX_ADDRESS.match(v):
        raise ValueError(f'expected a 0x-prefixed 40-hex-digit address or {{wallet: name}}, got "{v}"')
    if isinstance(v, str) and v[2:] != v[2:].lower() and v[2:] != v[2:].upper() and not is_checksum_address(v):
        raise ValueError(f'"{v}" is mixed-case but its EIP-55 checksum is wrong (a typo?); check the address, or write it all lower-case')
    return v


AddressSpec = Annotated[str | WalletRef, BeforeValidator(checked_address)]


class ContractSpec(StrictModel):
    address: Annotated[str, BeforeValidator(checked_address)]
    abi: str = Field(description='"erc20", or a path to an ABI / compiled artifact JSON file')


def _one_key_model(name: str, registry, doc: str, extra: dict[str, Any] | None = None) -> type[BaseModel]:
    """A YAML mapping with exactly one key from `registry` (plus `extra` fields): its fields are
    the registry's entries, each typed by the entry's options, so errors keep their YAML path."""
    fields: dict[str, Any] = {e.name: (Optional[e.options], None) for e in registry}
    keys = list(fields)

    def exactly_one(self):
        if sum(getattr(self, k) is not None for k in keys) != 1:
            raise ValueError(f"give exactly one of: {', '.join(keys)}")
        return self

    def kind(self) -> str:
        return next(k for k in keys if getattr(self, k) is not None)

    model = create_model(name, __base__=StrictModel, __doc__=doc, **fields, **(extra or {}),
                         __validators__={"_exactly_one": model_validator(mode="after")(exactly_one)})
    model.kind = property(kind)  # type: ignore[attr-defined]
    model.options = property(lambda self: getattr(self, kind(self)))  # type: ignore[attr-defined]
    model.entry = property(lambda self: registry[kind(self)])  # type: ignore[attr-defined]
    return model


Observe = _one_key_model("Observe", OBSERVATIONS, "One read in the agent's observation; see concilium/seams/observation.py.")
ScheduleSpec = _one_key_model("ScheduleSpec", TRIGGERS, "What wakes the agent; see concilium/triggers.py.",
                              {"jitter": (Optional[Seconds], None)})

Amount = Annotated[Decimal, BeforeValidator(lambda v: Decimal(str(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)]


class AssetLimit(StrictModel):
    """Per-transaction and rolling 24 h limits on what leaves the wallet, in the asset's units."""

    per_tx: Amount = Field(gt=0)
    per_day: Amount | None = Field(None, gt=0)


ApprovalCap = Annotated[Amount | Literal["unlimited"], Field(union_mode="left_to_right")]
ETH = "ETH"


class PolicySpec(StrictModel):
    """What the guard enforces in code, whatever the model says. The guard simulates every
    write and applies these rules to its effects (ETH and tokens out, approvals granted)."""

    recipients: list[str] = []
    spenders: dict[str, dict[str, ApprovalCap]] = {}
    limits: dict[str, AssetLimit] = {}
    contracts: dict[str, list[str]] = {}
    max_slippage_bps: int | None = Field(None, ge=0, le=10_000)
    max_gas_price: GasPrice | None = None
    simulate: Literal[True] = Field(True, description="required: the guard reads the effects from the simulation")
    dry_run: bool = False

    # before `limits` existed; still read, and folded into `limits`
    max_value_per_tx: Wei | None = None
    max_value_per_day: Wei | None = None
    token_limits: dict[str, AssetLimit] = {}

    @model_validator(mode="before")
    @classmethod
    def _simulation_required(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("simulate") is False:
            raise ValueError("simulate: false is no longer possible: the guard judges a write by its simulated effects; remove the key")
        return data

    @model_validator(mode="after")
    def _legacy_limits(self) -> "PolicySpec":
        limits = dict(self.limits)
        if self.max_value_per_tx is not None or self.max_value_per_day is not None:
            if ETH in limits:
                raise ValueError("give ETH limits once: either limits: {ETH: ...} or max_value_per_tx/max_value_per_day")
            if not self.max_value_per_tx:
                raise ValueError("max_value_per_day needs max_value_per_tx too (or write limits: {ETH: {per_tx: 1, per_day: 5}})")
            eth = lambda w: None if w is None else Decimal(w) / Decimal(10**18)  # noqa: E731
            limits[ETH] = AssetLimit(per_tx=eth(self.max_value_per_tx), per_day=eth(self.max_value_per_day))
        for token, lim in self.token_limits.items():
            if token in limits:
                raise ValueError(f"token {token!r} is in both limits and token_limits; keep it in limits")
            limits[token] = lim
        object.__setattr__(self, "limits", limits)
        return self


class MemorySpec(StrictModel):
    recall: int = Field(0, ge=0, le=50)


class AgentSpec(StrictModel):
    name: Name
    model: str
    chain: str
    wallet: str
    instructions: str = Field(min_length=1, max_length=4000)
    mode: Literal["structured", "tools"] = "structured"
    observe: list[Observe] = []  # type: ignore[valid-type]
    tools: list[ToolName] = []
    tool_options: dict[str, dict[str, Any]] = Field({}, description="filled from `tools: [{name: {options}}]` entries")
    policy: PolicySpec = PolicySpec()
    schedule: ScheduleSpec = ScheduleSpec(every=60.0)  # type: ignore[valid-type]
    memory: MemorySpec = MemorySpec()

    @model_validator(mode="before")
    @classmethod
    def _tool_options(cls, data: Any) -> Any:
        """`tools: [send_native, {swap: {fee: 3000}}]`: a one-key mapping names a tool with options."""
        if isinstance(data, dict) and isinstance(data.get("tools"), list):
            names, options = [], dict(data.get("tool_options") or {})
            for t in data["tools"]:
                if isinstance(t, dict) and len(t) == 1:
                    (name, opts), = t.items()
                    names.append(name)
                    options[name] = opts or {}
                else:
                    names.append(t)
            data = {**data, "tools": names, "tool_options": options}
        return data


class CommitteeMember(StrictModel):
    """One member: its key (a wallet name), its model, and the URL its peers reach it at."""

    name: Name
    key: str = Field(description="a wallet name from `wallets:` (each member its own)")
    model: str
    url: str = Field(description="this member's peer endpoint, e.g. http://10.0.0.2:9101")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s):// URL of the member's peer endpoint, got {v!r}")
        return v.rstrip("/")


class DayLimit(StrictModel):
    per_day: float = Field(ge=0)


class OnchainLimits(StrictModel):
    """What the Safe's CommitteeGuard enforces even against a colluding quorum. Recipients default
    to the agent's `policy.recipients`; `ETH` and token (contract name) limits are per UTC day in
    whole units; a change to them waits `delay` and the `guardian` (an address name) may cancel it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    recipients: list[str] | None = None
    delay: Seconds = 2 * 86400.0
    guardian: str | None = None

    @model_validator(mode="after")
    def _limits(self) -> "OnchainLimits":
        for k, v in (self.model_extra or {}).items():
            DayLimit.model_validate(v)  # raises with the field's message
        return self

    def day_limits(self) -> dict[str, float]:
        """asset ("ETH" or a contract name) -> whole units per day."""
        return {k: DayLimit.model_validate(v).per_day for k, v in (self.model_extra or {}).items()}


class CommitteeSpec(StrictModel):
    """A committee: `members` run `agent`'s spec each with its own key and model; a Safe (`deploy`
    or an existing address) with threshold k holds the funds; rounds run on `schedule`."""

    name: Name
    agent: str
    members: list[CommitteeMember] = Field(min_length=1, max_length=32)
    threshold: int = Field(ge=1)
    safe: str = Field("deploy", description='"deploy" or the address of an existing Safe')
    schedule: Seconds = Field(60.0, description="a round every this long; members agree on the slot")
    phase_timeout: Seconds = Field(10.0, description="how long to wait for peers in each phase")
    submit_backoff: Seconds = Field(5.0, description="how long a non-leader waits before submitting itself")
    onchain_limits: OnchainLimits = Field(default_factory=OnchainLimits)

    @field_validator("safe", mode="before")
    @classmethod
    def _safe(cls, v: Any) -> str:
        if not isinstance(v, str) or (v != "deploy" and not _HEX_ADDRESS.match(v)):  # YAML reads 0x12 as a number
            raise ValueError(f'expected "deploy" or a Safe\'s 0x-prefixed 40-hex-digit address, got {v!r}')
        return v

    @model_validator(mode="after")
    def _quorum(self) -> "CommitteeSpec":
        n = len(self.members)
        if self.threshold > n:
            raise ValueError(f"threshold {self.threshold} is more than the {n} members")
        if 2 * self.threshold <= n:
            raise ValueError(f"threshold {self.threshold} of {n} lets two disjoint groups both agree; use more than {n // 2}")
        for what in ("name", "key", "url"):
            values = [getattr(m, what) for m in self.members]
            if dup := sorted({v for v in values if values.count(v) > 1}):
                raise ValueError(f"members share a {what}: {', '.join(dup)} (each member needs its own)")
        if self.phase_timeout * 3 >= self.schedule:
            raise ValueError("phase_timeout x 3 must fit in one schedule slot (commit, reveal, sign)")
        return self

    def member(self, name: str) -> CommitteeMember:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)


class ApiSpec(StrictModel):
    """The service's HTTP API. State changes need `Authorization: Bearer <token>`; the token
    comes from the environment variable named here and never from the YAML itself."""

    host: str = "127.0.0.1"
    port: int = Field(8600, ge=0, le=65535)
    token_env: str = "CONCILIUM_API_TOKEN"
    enabled: bool = True


class Spec(StrictModel):
    version: Literal[1]
    models: dict[Name, ModelSpec] = {}
    chains: dict[Name, ChainSpec] = {}
    wallets: dict[Name, WalletSpec] = {}
    addresses: dict[Name, AddressSpec] = {}
    contracts: dict[Name, ContractSpec] = {}
    agents: list[AgentSpec] = []
    committees: list[CommitteeSpec] = []
    state_dir: Path | None = None
    memory_server: str | None = Field(None, description="a chroma server URL; default: embedded in the state dir")
    store_url: str | None = Field(None, description="state database, e.g. postgresql+asyncpg://user@host/db; default: SQLite in the state dir")
    api: "ApiSpec" = Field(default_factory=lambda: ApiSpec())
    base_dir: Path = Field(default=Path("."), exclude=True)

    def cross_references(self) -> list[tuple[tuple, str]]:
        return _cross_references(self)

    def undefined(self, section: str, name: Any) -> str | None:
        """None if `name` is defined in `section` ("addresses", "contracts", "wallets", ... or
        "names": addresses and contracts); else the problem, listing what is defined."""
        table = {**self.addresses, **self.contracts} if section == "names" else getattr(self, section)
        if isinstance(name, str) and name in table:
            return None
        what = {"addresses": "address", "contracts": "contract", "names": "address", "wallets": "wallet",
                "models": "model", "chains": "chain"}.get(section, section)
        return f"unknown {what} {name!r}; defined: {', '.join(sorted(table)) or '(none)'}"

    def committee(self, name: str) -> CommitteeSpec:
        for c in self.committees:
            if c.name == name:
                return c
        raise KeyError(name)

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
    """Names used in agents must exist in their sections; checked after the shapes are valid.
    Tools, observations and triggers check their own options (see their registries)."""
    out: list[tuple[tuple, str]] = []

    def need(section: str, name: str, loc: tuple) -> None:
        if (m := spec.undefined(section, name)) is not None:
            out.append((loc, m))

    for name, addr in spec.addresses.items():
        if isinstance(addr, WalletRef):
            need("wallets", addr.wallet, ("addresses", name, "wallet"))
        if name in spec.contracts:
            out.append((("addresses", name), f"{name!r} names both an address and a contract; names must be unique"))
    for i, a in enumerate(spec.agents):
        at = ("agents", i)
        need("models", a.model, at + ("model",))
        need("chains", a.chain, at + ("chain",))
        need("wallets", a.wallet, at + ("wallet",))
        chain = spec.chains.get(a.chain)
        wallet = spec.wallets.get(a.wallet)
        if chain and wallet and wallet.dev_account is not None and not chain.embedded:
            out.append((at + ("wallet",), f"wallet {a.wallet!r} uses a dev account, which only exists on an embedded chain; use a keystore"))
        p, pol = a.policy, at + ("policy",)
        for j, r in enumerate(p.recipients):
            need("names", r, pol + ("recipients", j))
        for c in p.contracts:
            need("contracts", c, pol + ("contracts", c))
        for asset in p.limits:
            if asset != ETH:
                need("contracts", asset, pol + ("limits", asset))
        for spender, caps in p.spenders.items():
            need("names", spender, pol + ("spenders", spender))
            for token in caps:
                need("contracts", token, pol + ("spenders", spender, token))
        for j, o in enumerate(a.observe):
            if o.entry.check is not None:
                out += [(at + ("observe", j, o.kind) + loc, m) for loc, m in o.entry.check(spec, o.options)]
        if a.schedule.entry.check is not None:
            out += [(at + ("schedule", a.schedule.kind) + loc, m) for loc, m in a.schedule.entry.check(spec, a.schedule.options)]
        for name in a.tools:
            tool = TOOLS[name]
            if tool.check is not None:
                out += [(at + loc, m) for loc, m in tool.check(spec, a)]
            if tool.options is not None:
                try:
                    tool.options.model_validate(a.tool_options.get(name, {}))
                except ValueError as e:
                    out.append((at + ("tools",), f"options of {name}: {str(e).splitlines()[-1].strip()}"))
            elif a.tool_options.get(name):
                out.append((at + ("tools",), f"tool {name} takes no options"))
    names = [a.name for a in spec.agents]
    for i, n in enumerate(names):
        if names.index(n) != i:
            out.append((("agents", i, "name"), f"agent name {n!r} is used twice; names must be unique"))
    return out + _committee_references(spec, need)


def _committee_references(spec: Spec, need) -> list[tuple[tuple, str]]:
    out: list[tuple[tuple, str]] = []
    agents = [a.name for a in spec.agents]
    for i, c in enumerate(spec.committees):
        at = ("committees", i)
        if c.agent not in agents:
            out.append((at + ("agent",), f"unknown agent {c.agent!r}; defined: {', '.join(sorted(agents)) or '(none)'}"))
        for j, m in enumerate(c.members):
            need("wallets", m.key, at + ("members", j, "key"))
            need("models", m.model, at + ("members", j, "model"))
        lim = c.onchain_limits
        for j, r in enumerate(lim.recipients or []):
            need("addresses", r, at + ("onchain_limits", "recipients", j))
        if lim.guardian is not None:
            need("addresses", lim.guardian, at + ("onchain_limits", "guardian"))
        for asset in lim.day_limits():
            if asset != "ETH":
                need("contracts", asset, at + ("onchain_limits", asset))
    names = [c.name for c in spec.committees]
    for i, n in enumerate(names):
        if names.index(n) != i:
            out.append((("committees", i, "name"), f"committee name {n!r} is used twice; names must be unique"))
    return out
