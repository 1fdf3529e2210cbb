"""Runtime: a Spec made live. Starts what the YAML asks to embed (anvil, vLLM), connects to
what it names (RPC URLs, vLLM URLs), loads wallets, opens the state store, builds the agents.

    async with Runtime.open(load_spec("agents.yaml")) as rt:
        record = await rt.agents["treasury-keeper"].step()
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from concilium.agents.agent import Agent
from concilium.agents.memory import AgentMemory, chroma_client
from concilium.agents.records import StateStore
from concilium.chain.client import ChainClient
from concilium.chain.wallets import DEV_CHAIN_ID, Wallet, load_wallet
from concilium.errors import ChainError
from concilium.llm.client import ModelClient, Sampling
from concilium.llm.sanitize import control_tokens
from concilium.spec import ChainSpec, ModelSpec, Spec
from concilium.stack.bundled import family_of_serve
from concilium.stack.embedded import EmbeddedStack
from concilium.stack.process import Progress


async def chain_client(c: ChainSpec, stack: EmbeddedStack) -> ChainClient:
    """A chain from the YAML: the embedded anvil, or the given RPC URLs with failover."""
    urls = [(await stack.chain()).url] if c.embedded else c.urls
    return ChainClient(urls, c.confirmations, c.receipt_timeout)


async def model_client(m: ModelSpec, stack: EmbeddedStack, name: str) -> ModelClient:
    """A model from the YAML: a vLLM server we start (`serve`), or an existing one (`url`)."""
    sampling = Sampling(m.temperature, m.seed, m.max_tokens)
    if m.serve is not None:
        server, digest = await stack.model(m.serve)
        return ModelClient(server.url, server.served_name, sampling, m.timeout, digest, control_tokens(getattr(server, "model", None)),
                           m.family or family_of_serve(m.serve))
    return ModelClient(m.url, m.name or name, sampling, m.timeout, family=m.family)  # type: ignore[arg-type]


class Runtime:
    def __init__(self, spec: Spec, state_dir: Path, stack: EmbeddedStack):
        self.spec = spec
        self.state_dir = state_dir
        self.stack = stack
        self.chains: dict[str, ChainClient] = {}
        self.models: dict[str, ModelClient] = {}
        self.wallets: dict[str, Wallet] = {}
        self.agents: dict[str, Agent] = {}
        self._wallet_locks: dict[str, asyncio.Lock] = {}
        self.store: StateStore | None = None
        self._chroma = None

    @classmethod
    @asynccontextmanager
    async def open(cls, spec: Spec, stack: EmbeddedStack | None = None, state_dir: Path | None = None,
                   progress: Progress = lambda _: None, store_url: str | None = None) -> AsyncIterator["Runtime"]:
        state_dir = Path(state_dir or spec.state_dir or spec.base_dir / ".concilium")
        state_dir.mkdir(parents=True, exist_ok=True)
        own_stack = stack is None
        stack = stack or EmbeddedStack(state_dir, progress=progress)
        rt = cls(spec, state_dir, stack)
        try:
            await rt._connect(progress, store_url or spec.store_url or f"sqlite+aiosqlite:///{state_dir / 'state.db'}")
            yield rt
        finally:
            await rt._close()
            if own_stack:
                stack.stop()

    async def _connect(self, progress: Progress, store_url: str) -> None:
        spec = self.spec
        used_chains = {a.chain for a in spec.agents} or set(spec.chains)
        used_models = {a.model for a in spec.agents} or set(spec.models)
        for name in used_chains:
            c = spec.chains[name]
            client = await chain_client(c, self.stack)
            chain_id = await client.chain_id()
            expected = c.chain_id or (DEV_CHAIN_ID if c.embedded else None)
            if expected is not None and chain_id != expected:
                raise ChainError(f"chain {name!r}: RPC reports chain id {chain_id}, the YAML says {expected}; check chains.{name}")
            self.chains[name] = client
        for name in used_models:
            self.models[name] = await model_client(spec.models[name], self.stack, name)
        for name, w in spec.wallets.items():
            self.wallets[name] = load_wallet(name, w, spec.base_dir)
        self.store = await StateStore(store_url).init()
        for a in spec.agents:
            self.agents[a.name] = self.build_agent(a)

    def build_agent(self, a) -> Agent:
        memory = None
        if a.memory.recall > 0:
            if self._chroma is None:
                self._chroma = chroma_client(self.state_dir, self.spec.memory_server)
            memory = AgentMemory(self._chroma, a.name)
        # agents on one key take turns: one nonce sequence, one day's budget (the guard counts the wallet's spend)
        lock = self._wallet_locks.setdefault(self.wallets[a.wallet].address, asyncio.Lock())
        return Agent(self.spec, a, self.chains[a.chain], self.models[a.model], self.wallets, self.store, memory, lock=lock)

    async def _close(self) -> None:
        for c in self.chains.values():
            await c.close()
        if self.store is not None:
            await self.store.close()
