"""What tools act on: one agent's chain, wallet and the names the YAML defines, resolved.

Names are the only handles the model ever sees; this is where they become addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from concilium.chain.abi import load_abi
from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet
from concilium.spec import AgentSpec, Spec, WalletRef
from concilium.seams.tool import TOOLS, ToolInputError


@dataclass
class ContractRef:
    name: str
    address: str
    abi: list[dict[str, Any]]
    handle: Any  # web3 AsyncContract

    def functions(self, mutating: bool) -> list[dict[str, Any]]:
        views = ("view", "pure")
        return [f for f in self.abi if f.get("type") == "function" and ((f.get("stateMutability") not in views) == mutating)]


@dataclass
class ToolContext:
    agent: AgentSpec
    chain: ChainClient
    wallet: Wallet
    addresses: dict[str, str]
    contracts: dict[str, ContractRef]
    _decimals: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: Spec, agent: AgentSpec, chain: ChainClient, wallets: dict[str, Wallet]) -> "ToolContext":
        addresses = {}
        for name, a in spec.addresses.items():
            addresses[name] = wallets[a.wallet].address if isinstance(a, WalletRef) else to_checksum_address(a)
        contracts = {}
        for name, c in spec.contracts.items():
            abi = load_abi(c.abi, spec.base_dir)
            contracts[name] = ContractRef(name, to_checksum_address(c.address), abi, chain.contract(c.address, abi))
        return cls(agent, chain, wallets[agent.wallet], addresses, contracts)

    @property
    def names(self) -> dict[str, str]:
        """Every name the model may use for an address: the YAML's addresses and contracts."""
        return {**self.addresses, **{n: c.address for n, c in self.contracts.items()}}

    def address(self, name: str) -> str:
        return self.names[name]

    def name_of(self, address: str) -> str | None:
        a = address.lower()
        return next((n for n, x in self.names.items() if x.lower() == a), None)

    def resolve_one(self, value: Any) -> Any:
        """A YAML value that may name an address -> the address; anything else unchanged."""
        return self.names.get(value, value) if isinstance(value, str) else value

    def resolve(self, args: list[Any]) -> tuple:
        return tuple(self.resolve_one(a) for a in args)

    def options(self, tool: str) -> Any:
        """The tool's YAML options (`tools: [{name: {...}}]`) as its declared model."""
        model = TOOLS[tool].options
        return None if model is None else model.model_validate(self.agent.tool_options.get(tool, {}))

    def token_by_address(self, address: str) -> ContractRef | None:
        a = address.lower()
        return next((c for c in self.contracts.values() if c.address.lower() == a), None)

    async def decimals(self, token: str) -> int:
        """Decimals of a named token, read from the token once."""
        if token not in self._decimals:
            try:
                decimals = int(await self.contracts[token].handle.functions.decimals().call())
            except Exception as e:  # no such function, a revert, garbage: not a token we can count
                raise ToolInputError(f"contract {token!r} does not answer decimals() like an ERC-20 ({type(e).__name__})") from None
            if not 0 <= decimals <= 36:
                raise ToolInputError(f"contract {token!r} reports {decimals} decimals; refusing to count it")
            self._decimals[token] = decimals
        return self._decimals[token]
