"""A local oracle network on one machine (`concilium oracle up`, the demo, tests, benchmarks):
deploys AgentOracle with N node keys (the contract derives f and the quorum) and local
parameters (no timelock, short timeouts allowed), and runs N nodes in this process. Node i asks
`models[i % len(models)]` (one server, or several model families side by side), and each
evaluates, signs and keeps its state on its own, with its own key, chain client and database,
exactly as separate operators would."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from concilium.chain.client import ChainClient
from concilium.chain.deploy import deploy
from concilium.chain.wallets import Wallet, dev_wallet
from concilium.llm.client import ModelClient
from concilium.oracle.admin import stake_node
from concilium.oracle.node import NodeSettings, OracleNode
from concilium.oracle.params import LOCAL_PARAMS, OracleParams, fault_tolerance
from concilium.oracle.store import OracleStore
from concilium.stack.process import free_port

LOCAL_STAKE = 10**17  # wei each local node stakes (0.1 ETH)
NODE_KEY_OFFSET = 10  # node keys come from the dev mnemonic after anvil's ten funded accounts


def node_wallet(i: int) -> Wallet:
    return dev_wallet(NODE_KEY_OFFSET + i, f"node{i}")


@dataclass
class LocalOracleNetwork:
    chain_url: str
    model: ModelClient
    state_dir: Path
    nodes: list[OracleNode] = field(default_factory=list)
    oracle: str = ""
    size: int = 0
    models: tuple[ModelClient, ...] = ()  # node i asks models[i % len]; empty: every node asks `model`
    fee_floor_wei: int = 0

    @classmethod
    async def deploy(cls, chain_url: str, model: ModelClient | Sequence[ModelClient], state_dir: Path, n: int = 4,
                     params: OracleParams = LOCAL_PARAMS, owner: Wallet | None = None, node_factory=OracleNode,
                     backoff: float = 3.0, contract: str = "AgentOracle", fee_floor_wei: int = 0, stake: int = LOCAL_STAKE) -> "LocalOracleNetwork":
        models = (model,) if isinstance(model, ModelClient) else tuple(model)
        if not models:
            raise ValueError("a local oracle network needs at least one model client")
        net = cls(chain_url, models[0], Path(state_dir), size=n, models=models, fee_floor_wei=fee_floor_wei)
        owner = owner or dev_wallet(0)
        chain = ChainClient([chain_url])
        wallets = [node_wallet(i) for i in range(n)]
        for w in wallets:  # gas money for submitting
            await chain.w3.provider.make_request("anvil_setBalance", [w.address, hex(100 * 10**18)])
        net.oracle = await deploy(chain, owner, contract, [w.address for w in wallets], params.as_tuple(), stake, params.max_timeout)
        for w in wallets:
            await stake_node(chain, w, net.oracle)
        start = await chain.w3.eth.block_number
        await chain.close()
        ports = [free_port() for _ in range(n)]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for i, w in enumerate(wallets):
            net.nodes.append(net._node(node_factory, i, w, ports[i], [u for j, u in enumerate(urls) if j != i], start, backoff))
        return net

    @property
    def quorum(self) -> int:
        return fault_tolerance(self.size)[1]

    def _node(self, factory, i: int, wallet: Wallet, port: int, peers: list[str], start: int, backoff: float) -> OracleNode:
        settings = NodeSettings(self.oracle, port=port, peers=tuple(peers), start_block=start, backoff=backoff,
                                fee_floor_wei=self.fee_floor_wei, reveal_grace=backoff)
        model = self.model_for(i)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        store = OracleStore.sqlite(self.state_dir / f"node{i}.db")
        return factory(settings, wallet, ChainClient([self.chain_url]), model, store)

    def model_for(self, i: int) -> ModelClient:
        """Node i's own client (as its own process would have) of its model server."""
        return replace((self.models or (self.model,))[i % len(self.models or (self.model,))])

    async def start(self) -> "LocalOracleNetwork":
        await asyncio.gather(*(n.start() for n in self.nodes))
        return self

    async def stop(self) -> None:
        await asyncio.gather(*(n.stop() for n in self.nodes))
        for n in self.nodes:
            await n.chain.close()
            await n.store.close()

    async def restart_node(self, i: int, factory=OracleNode) -> OracleNode:
        """Stop node i and start a fresh process-equivalent on the same key, port and database."""
        old = self.nodes[i]
        await old.stop()
        await old.chain.close()
        await old.store.close()
        s = old.settings
        fresh = factory(s, old.wallet, ChainClient([self.chain_url]), self.model_for(i), OracleStore(old.store.url))
        self.nodes[i] = fresh
        return await fresh.start()
