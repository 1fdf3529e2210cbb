"""ABIs by name: the built-in `erc20`, a protocol's (`weth9`, `uniswap_v3_router`, `morpho_blue`...),
a compiled artifact of ours, or a user's JSON file."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from concilium.errors import ConciliumError

ERC20_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": n, "stateMutability": "view", "inputs": [], "outputs": [{"name": "", "type": t}]}
    for n, t in (("name", "string"), ("symbol", "string"), ("decimals", "uint8"), ("totalSupply", "uint256"))
] + [
    {"type": "function", "name": "balanceOf", "stateMutability": "view",
     "inputs": [{"name": "owner", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]},
    {"type": "function", "name": "allowance", "stateMutability": "view",
     "inputs": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"}],
     "outputs": [{"name": "", "type": "uint256"}]},
    {"type": "function", "name": "transfer", "stateMutability": "nonpayable",
     "inputs": [{"name": "to", "type": "address"}, {"name": "value", "type": "uint256"}],
     "outputs": [{"name": "", "type": "bool"}]},
    {"type": "function", "name": "approve", "stateMutability": "nonpayable",
     "inputs": [{"name": "spender", "type": "address"}, {"name": "value", "type": "uint256"}],
     "outputs": [{"name": "", "type": "bool"}]},
    {"type": "function", "name": "transferFrom", "stateMutability": "nonpayable",
     "inputs": [{"name": "from", "type": "address"}, {"name": "to", "type": "address"}, {"name": "value", "type": "uint256"}],
     "outputs": [{"name": "", "type": "bool"}]},
    {"type": "event", "name": "Transfer", "anonymous": False,
     "inputs": [{"name": "from", "type": "address", "indexed": True}, {"name": "to", "type": "address", "indexed": True},
                {"name": "value", "type": "uint256", "indexed": False}]},
    {"type": "event", "name": "Approval", "anonymous": False,
     "inputs": [{"name": "owner", "type": "address", "indexed": True}, {"name": "spender", "type": "address", "indexed": True},
                {"name": "value", "type": "uint256", "indexed": False}]},
]

# ABI names a YAML may give (`abi: uniswap_v3_router`) -> the artifact that holds the protocol's
# published build (see scripts/compile-contracts.js)
PROTOCOL_ABIS: dict[str, str] = {
    "weth9": "WETH9",
    "uniswap_v2_factory": "UniswapV2Factory",
    "uniswap_v2_pair": "UniswapV2Pair",
    "uniswap_v2_router": "UniswapV2Router02",
    "uniswap_v3_factory": "UniswapV3Factory",
    "uniswap_v3_pool": "UniswapV3Pool",
    "uniswap_v3_router": "SwapRouter",
    "uniswap_v3_quoter": "QuoterV2",
    "uniswap_v3_positions": "NonfungiblePositionManager",
    "morpho_blue": "Morpho",
    "morpho_oracle": "OracleMock",
}


@lru_cache(maxsize=None)
def artifact(name: str) -> dict[str, Any]:
    """A contract compiled from contracts/src (see `make contracts`): abi, bytecode."""
    try:
        text = resources.files("concilium.artifacts").joinpath(f"{name}.json").read_text()
    except FileNotFoundError:
        raise ConciliumError(f"no compiled artifact named {name!r}; run `make contracts`") from None
    return json.loads(text)


def load_abi(ref: str, base_dir: Path = Path(".")) -> list[dict[str, Any]]:
    """`erc20`, a protocol ABI name, `artifact:<Name>`, or a path to a JSON file holding an ABI list or an artifact."""
    if ref == "erc20":
        return ERC20_ABI
    if ref in PROTOCOL_ABIS:
        return artifact(PROTOCOL_ABIS[ref])["abi"]
    if ref.startswith("artifact:"):
        return artifact(ref.split(":", 1)[1])["abi"]
    path = Path(ref) if Path(ref).is_absolute() else base_dir / ref
    try:
        data = json.loads(path.read_text())
    except OSError:
        raise ConciliumError(f"ABI file {path} cannot be read; give `abi: erc20` or a path to an ABI JSON file") from None
    except json.JSONDecodeError as e:
        raise ConciliumError(f"ABI file {path} is not JSON ({e.msg} at line {e.lineno})") from None
    abi = data.get("abi") if isinstance(data, dict) else data
    if not isinstance(abi, list):
        raise ConciliumError(f"ABI file {path} holds neither an ABI list nor an artifact with an `abi` key")
    return abi


def function_abi(abi: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for item in abi:
        if item.get("type") == "function" and item.get("name") == name:
            return item
    raise ConciliumError(f"the ABI has no function {name!r}")
