"""A local committee on one machine (tests, the demo, benchmarks): deploys the Safe and its
CommitteeGuard for a YAML committee, then runs its n members in this process, each with its own
key, chain client, agent side, store and peer endpoint on a free port, exactly as separate
processes would (`concilium committee member` runs one of them alone)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet
from concilium.committee.agent_member import AgentMember, Decisions, default_rules
from concilium.committee.config import guard_config, member_settings
from concilium.committee.deploy import CommitteeSafe, SafeSingletons, deploy_committee_safe
from concilium.committee.member import CommitteeMember
from concilium.committee.round import CommitteeRound
from concilium.committee.store import CommitteeStore
from concilium.llm.client import ModelClient
from concilium.spec import CommitteeMember as MemberSpec
from concilium.spec import Spec
from concilium.stack.process import free_port
from concilium.tools.context import ToolContext

log = logging.getLogger("concilium.committee")
MemberFactory = Callable[..., CommitteeMember]


@dataclass
class LocalCommittee:
    spec: Spec
    name: str
    chain_url: str
    wallets: dict[str, Wallet]
    state_dir: Path
    deployed: CommitteeSafe | None = None
    members: list[CommitteeMember] = field(default_factory=list)

    @classmethod
    async def deploy(cls, spec: Spec, name: str, chain_url: str, wallets: dict[str, Wallet], deployer: Wallet, state_dir: Path,
                     singletons: SafeSingletons | None = None) -> "LocalCommittee":
        """The Safe (owners: the members' keys, threshold k) with its guard from `onchain_limits`;
        members' keys get gas money. Member URLs are replaced by free local ports."""
        c = spec.committee(name)
        members = [m.model_copy(update={"url": f"http://127.0.0.1:{free_port()}"}) for m in c.members]
        spec = spec.model_copy(update={"committees": [x if x.name != name else c.model_copy(update={"members": members})
                                                      for x in spec.committees]})
        net = cls(spec, name, chain_url, wallets, Path(state_dir))
        chain = ChainClient([chain_url])
        try:
            ctx = ToolContext.build(spec, spec.agent(c.agent), chain, wallets)
            config = await guard_config(spec, c, ctx)
            keys = [wallets[m.key] for m in members]
            for w in keys:
                await chain.w3.provider.make_request("anvil_setBalance", [w.address, hex(10 * 10**18)])
            net.deployed = await deploy_committee_safe(chain, deployer, keys, c.threshold, config, singletons)
        finally:
            await chain.close()
        return net

    @property
    def committee(self):
        return self.spec.committee(self.name)

    @property
    def safe(self) -> str:
        return self.deployed.safe.address

    def member(self, m: MemberSpec, models: dict[str, ModelClient] | None = None, decisions: Decisions | None = None,
               factory: MemberFactory = CommitteeMember) -> CommitteeMember:
        agent = self.spec.agent(self.committee.agent)
        chain = ChainClient([self.chain_url])
        model = (models or {}).get(m.model)
        side = AgentMember(self.spec, agent, chain, model, self.wallets, self.safe, decisions)
        settings = member_settings(self.committee, m.name, self.safe, self.wallets, default_rules(agent))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        store = CommitteeStore.for_member(self.state_dir, self.name, m.name)
        return factory(settings, self.wallets[m.key], chain, side, store)

    async def start(self, models: dict[str, ModelClient] | None = None, decisions: dict[str, Decisions] | None = None,
                    factories: dict[str, MemberFactory] | None = None, only: list[str] | None = None) -> "LocalCommittee":
        """Start the members (all, or `only` these names: the others stay silent)."""
        for m in self.committee.members:
            if only is None or m.name in only:
                self.members.append(self.member(m, models, (decisions or {}).get(m.name), (factories or {}).get(m.name, CommitteeMember)))
        await asyncio.gather(*(x.start() for x in self.members))
        return self

    async def round(self, slot: int | None = None) -> list[CommitteeRound]:
        """One round on every running member at once (the same slot, as their ticks would)."""
        slot = slot if slot is not None else self.members[0].slot_now()
        results = await asyncio.gather(*(m.run_round(slot) for m in self.members), return_exceptions=True)
        for m, r in zip(self.members, results):
            if isinstance(r, BaseException):
                log.warning("member %s: round failed: %s", m.me, r)
        return [r if isinstance(r, CommitteeRound) else None for r in results]

    async def stop(self) -> None:
        await asyncio.gather(*(m.stop() for m in self.members))
        for m in self.members:
            await m.chain.close()
            await m.store.close()
        self.members = []
