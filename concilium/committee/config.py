"""A committee's YAML block made concrete: the members' addresses, the onchain guard's
configuration (names resolved to addresses, whole units to base units), and a member's settings."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from concilium.chain.wallets import Wallet
from concilium.committee.canonical import ToolRule
from concilium.committee.guard import MIN_DELAY, GuardConfig
from concilium.committee.member import MemberSettings
from concilium.committee.safetx import ZERO_ADDRESS
from concilium.errors import CommitteeError
from concilium.spec import CommitteeSpec, Spec
from concilium.tools.context import ToolContext


async def guard_config(spec: Spec, committee: CommitteeSpec, ctx: ToolContext) -> GuardConfig:
    """CommitteeGuard's config: recipients (default: the agent's policy.recipients), day limits
    per asset in base units, the change delay and the guardian."""
    lim = committee.onchain_limits
    agent = spec.agent(committee.agent)
    names = lim.recipients if lim.recipients is not None else list(agent.policy.recipients)
    tokens, eth = {}, 0
    for asset, per_day in lim.day_limits().items():
        if asset == "ETH":
            eth = int(Decimal(str(per_day)) * 10**18)
        else:
            tokens[ctx.contracts[asset].address] = int(Decimal(str(per_day)) * 10 ** await ctx.decimals(asset))
    if lim.delay < MIN_DELAY:
        raise CommitteeError(f"committee {committee.name}: onchain_limits.delay must be at least {MIN_DELAY} s")
    return GuardConfig(recipients=[ctx.address(n) for n in names], token_limits=tokens, eth_per_day=eth, delay=int(lim.delay),
                       guardian=ctx.address(lim.guardian) if lim.guardian else ZERO_ADDRESS)


def member_addresses(committee: CommitteeSpec, wallets: dict[str, Wallet]) -> list[str]:
    return [wallets[m.key].address for m in committee.members]


def member_settings(committee: CommitteeSpec, name: str, safe: str, wallets: dict[str, Wallet],
                    rules: dict[str, ToolRule], host: str | None = None, port: int | None = None) -> MemberSettings:
    """This member's settings: it listens where its `url` says (unless host/port are given)."""
    me = committee.member(name)
    url = urlsplit(me.url)
    return MemberSettings(safe=safe, members=tuple(member_addresses(committee, wallets)),
                          peers=tuple(m.url for m in committee.members if m.name != name), threshold=committee.threshold,
                          host=host or url.hostname or "127.0.0.1", port=port if port is not None else (url.port or 80),
                          schedule=committee.schedule, phase_timeout=committee.phase_timeout,
                          submit_backoff=committee.submit_backoff, rules=rules)
