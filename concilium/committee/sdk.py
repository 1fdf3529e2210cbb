"""`Committee`: a YAML committee from Python, through the same composition root as the CLI.

    async with Committee.open(load_spec("committee.yaml"), "treasury-council") as c:
        await c.deploy()                         # `safe: deploy`: Safe + CommitteeGuard (local chain)
        member = await c.member("m1")            # one member, as `concilium committee member` runs it
        await member.start(tick=True)
        print(await c.status())

A deployed Safe's address is kept in `<state_dir>/committees/<name>.json`, so every member
process started from the same YAML and state dir finds it; `safe: 0x...` in the YAML wins.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet, load_wallet
from concilium.committee.agent_member import AgentMember, Decisions, default_rules
from concilium.committee.config import guard_config, member_addresses, member_settings
from concilium.committee.deploy import deploy_committee_safe
from concilium.committee.guard import CommitteeGuardReader
from concilium.committee.member import CommitteeMember
from concilium.committee.safe import Safe, SafeExpectation, state_problems
from concilium.committee.store import CommitteeStore
from concilium.errors import CommitteeError
from concilium.runtime import chain_client, model_client
from concilium.spec import CommitteeSpec, Spec
from concilium.stack.embedded import EmbeddedStack
from concilium.stack.process import Progress
from concilium.tools.context import ToolContext


class Committee:
    def __init__(self, spec: Spec, committee: CommitteeSpec, state_dir: Path, stack: EmbeddedStack, chain: ChainClient,
                 wallets: dict[str, Wallet]):
        self.spec, self.committee, self.state_dir, self.stack, self.chain, self.wallets = spec, committee, state_dir, stack, chain, wallets
        self.agent = spec.agent(committee.agent)
        self._members: list[CommitteeMember] = []

    @classmethod
    @asynccontextmanager
    async def open(cls, spec: Spec, name: str, stack: EmbeddedStack | None = None, state_dir: Path | None = None,
                   progress: Progress = lambda _: None) -> AsyncIterator["Committee"]:
        try:
            committee = spec.committee(name)
        except KeyError:
            raise CommitteeError(f"no committee {name!r} in the YAML (defined: {', '.join(c.name for c in spec.committees) or 'none'})") from None
        state_dir = Path(state_dir or spec.state_dir or spec.base_dir / ".concilium")
        state_dir.mkdir(parents=True, exist_ok=True)
        own = stack is None
        stack = stack or EmbeddedStack(state_dir, progress=progress)
        chain = None
        try:
            chain = await chain_client(spec.chains[spec.agent(committee.agent).chain], stack)
            wallets = {n: load_wallet(n, w, spec.base_dir) for n, w in spec.wallets.items()}
            c = cls(spec, committee, state_dir, stack, chain, wallets)
            yield c
            for m in c._members:
                await m.stop()
                await m.chain.close()
                await m.store.close()
        finally:
            if chain is not None:
                await chain.close()
            if own:
                stack.stop()

    @property
    def record_file(self) -> Path:
        return self.state_dir / "committees" / f"{self.committee.name}.json"

    def safe_address(self) -> str:
        if self.committee.safe != "deploy":
            return self.committee.safe
        if not self.record_file.exists():
            raise CommitteeError(f"committee {self.committee.name} has `safe: deploy` and no Safe yet: run "
                                 f"`concilium committee deploy` first (it writes {self.record_file})")
        return json.loads(self.record_file.read_text())["safe"]

    def _ctx(self) -> ToolContext:
        return ToolContext.build(self.spec, self.agent, self.chain, self.wallets)

    async def deploy(self, deployer: str | None = None) -> dict[str, Any]:
        """Deploy the Safe (owners: the members' keys, threshold k) and its CommitteeGuard."""
        if self.committee.safe != "deploy":
            raise CommitteeError(f"committee {self.committee.name} names an existing Safe ({self.committee.safe}); nothing to deploy")
        payer = self.wallets[deployer or self.agent.wallet]
        config = await guard_config(self.spec, self.committee, self._ctx())
        keys = [self.wallets[m.key] for m in self.committee.members]
        done = await deploy_committee_safe(self.chain, payer, keys, self.committee.threshold, config)
        info = {"safe": done.safe.address, "guard": done.guard, "fallback_handler": done.singletons.fallback_handler,
                "chain_id": await self.chain.chain_id()}
        self.record_file.parent.mkdir(parents=True, exist_ok=True)
        self.record_file.write_text(json.dumps(info, indent=1))
        return info

    def store(self, member: str) -> CommitteeStore:
        return CommitteeStore.for_member(self.state_dir, self.committee.name, member)

    async def member(self, name: str, decisions: Decisions | None = None, host: str | None = None,
                     port: int | None = None) -> CommitteeMember:
        """One member with its own key, model client, chain client and store (not started)."""
        try:
            m = self.committee.member(name)
        except KeyError:
            raise CommitteeError(f"no member {name!r} in committee {self.committee.name}") from None
        safe = self.safe_address()
        expect = SafeExpectation(owners=member_addresses(self.committee, self.wallets), threshold=self.committee.threshold,
                                 fallback_handler=self._handler())
        await Safe.attach(self.chain, safe, expect)
        chain = await chain_client(self.spec.chains[self.agent.chain], self.stack)
        model = None if decisions is not None else await model_client(self.spec.models[m.model], self.stack, m.model)
        side = AgentMember(self.spec, self.agent, chain, model, self.wallets, safe, decisions)
        settings = member_settings(self.committee, name, safe, self.wallets, default_rules(self.agent), host, port)
        member = CommitteeMember(settings, self.wallets[m.key], chain, side, self.store(name))
        self._members.append(member)
        return member

    def _handler(self) -> str | None:
        if self.committee.safe == "deploy" and self.record_file.exists():
            return json.loads(self.record_file.read_text()).get("fallback_handler")
        return None

    async def status(self, rounds: int = 5) -> dict[str, Any]:
        """The Safe as the chain has it, what differs from the YAML, the guard's headroom today,
        and each member's last rounds from the stores in this state dir."""
        safe = Safe(self.chain, self.safe_address())
        state = await safe.state()
        expect = SafeExpectation(owners=member_addresses(self.committee, self.wallets), threshold=self.committee.threshold,
                                 fallback_handler=self._handler())
        out: dict[str, Any] = {"committee": self.committee.name, "safe": state.address, "chain_id": state.chain_id,
                               "owners": list(state.owners), "threshold": state.threshold, "nonce": state.nonce,
                               "guard": state.guard, "balance_wei": await self.chain.w3.eth.get_balance(state.address),
                               "problems": state_problems(state, expect)}
        if int(state.guard, 16):
            reader = CommitteeGuardReader(self.chain, state.guard)
            out["eth_remaining_today_wei"] = await reader.remaining_today()
            out["problems"] += await reader.problems(state.address, await guard_config(self.spec, self.committee, self._ctx()))
        out["members"] = {}
        for m in self.committee.members:
            store = self.store(m.name)
            try:
                out["members"][m.name] = await store.export(state.address, limit=rounds)
            finally:
                await store.close()
        return out
