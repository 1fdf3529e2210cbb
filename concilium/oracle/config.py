"""node.yaml: one oracle node, run by one operator with `concilium oracle node node.yaml`.

    version: 1
    oracle: "0x..."                                    # the AgentOracle address
    chain: {rpc: ["https://a.example", "https://b.example"], chain_id: 1, confirmations: 2}
    model: {url: "http://gpu-box:8000/v1", name: "Qwen/Qwen2.5-7B-Instruct"}   # or {serve: bundled}
    wallet: {keystore: ./keys/node.json, password_env: NODE_PASSWORD}
    listen: {host: 0.0.0.0, port: 8700}
    peers: ["https://node-b.example:8700", "https://node-c.example:8700"]
    fee_floor_wei: 100000000000000                     # skip requests paying less (they expire, refunded)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from concilium.spec import ChainSpec, ModelSpec, Seconds, WalletSpec, checked_address, StrictModel
from concilium.yamlfile import top_level_keys


class ListenSpec(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(8700, ge=1, le=65535)


class NodeSpec(StrictModel):
    version: Literal[1]
    oracle: Annotated[str, BeforeValidator(checked_address)]
    chain: ChainSpec
    model: ModelSpec
    wallet: WalletSpec
    listen: ListenSpec = ListenSpec()
    peers: list[Annotated[str, Field(pattern=r"^https?://")]] = []
    backoff: Seconds = 3.0
    fee_floor_wei: int = Field(0, ge=0, lt=2**256)  # requests paying less are skipped and left to expire
    start_block: int | None = Field(None, ge=0)
    state_dir: Path | None = None
    store_url: str | None = Field(None, description="the node's database, e.g. postgresql+asyncpg://user@host/db; default: SQLite in state_dir")
    base_dir: Path = Field(default=Path("."), exclude=True)

    def cross_references(self) -> list[tuple[tuple, str]]:
        if self.wallet.dev_account is not None and not self.chain.embedded:
            return [(("wallet",), "dev accounts exist only on an embedded chain; use a keystore")]
        return []


def is_node_yaml(path: Path) -> bool:
    """A node.yaml names an `oracle` and no `agents`: how `concilium validate` tells the two apart."""
    keys = top_level_keys(path)
    return "oracle" in keys and "agents" not in keys
