"""The demo's committee step (examples/committee.yaml): four members behind a Safe agree on a
top-up and it executes once; then one member is made Byzantine (its own guard switched off, it
proposes a transfer to an outsider) while the others see nothing to do, and nothing leaves."""

from __future__ import annotations

from pathlib import Path

from eth_utils import to_checksum_address
from rich.console import Console

from concilium.chain.client import ChainClient
from concilium.chain.wallets import dev_wallet, load_wallet
from concilium.committee.member import CommitteeMember
from concilium.committee.agent_member import Unguarded
from concilium.committee.network import LocalCommittee
from concilium.llm.decisions import Decision
from concilium.spec import load_spec
from concilium.stack.process import Progress
from concilium.units import format_ether


class _ByzantineMember(CommitteeMember):
    def __init__(self, settings, wallet, chain, agent, store):
        super().__init__(settings, wallet, chain, Unguarded(agent), store)


async def committee_rounds(file: Path, rpc: str, state_dir: Path, console: Console, progress: Progress) -> None:
    spec = load_spec(file)
    name = spec.committees[0].name
    wallets = {n: load_wallet(n, w, spec.base_dir) for n, w in spec.wallets.items()}
    progress(f"deploying the Safe (owners: 4 member keys, threshold 3) and its CommitteeGuard for {name}")
    net = await LocalCommittee.deploy(spec, name, rpc, wallets, dev_wallet(0), state_dir)
    chain = ChainClient([rpc])
    hot, outsider = wallets["hot"].address, to_checksum_address(spec.addresses["outsider"])
    await chain.w3.provider.make_request("anvil_setBalance", [net.safe, hex(20 * 10**18)])
    await chain.w3.provider.make_request("anvil_setBalance", [hot, hex(10**18)])
    top_up = Decision(action="send_native", args={"to": "hot_wallet", "amount": 1.5}, reason="hot wallet below 5 ETH")
    steal = Decision(action="send_native", args={"to": "outsider", "amount": 2}, reason="pay me")
    noop = Decision(action="noop", reason="hot wallet was just topped up")
    members = [m.name for m in net.committee.members]
    try:
        console.print(f"Safe {net.safe}: 20 ETH; guard allows {net.committee.onchain_limits.day_limits()} a day to "
                      f"{net.committee.onchain_limits.recipients or 'the agent policy recipients'}")
        for title, decisions, factories in (
            ("all four propose the top-up", {m: [top_up] for m in members}, {}),
            (f"{members[-1]} is Byzantine and proposes 2 ETH to the outsider; the others see nothing to do",
             {**{m: [noop] for m in members[:-1]}, members[-1]: [steal]}, {members[-1]: _ByzantineMember}),
        ):
            console.print(f"[bold]{title}[/bold]")
            safe_before, hot_before, out_before = [await chain.w3.eth.get_balance(a) for a in (net.safe, hot, outsider)]
            await net.start(decisions=decisions, factories=factories)
            rounds = await net.round()
            rec = (await net.members[0].store.export())[0]
            for v in rec["votes"]:
                console.print(f"  {v['member'][:10]}… voted {v['action']} {v['args'] or ''} "
                              f"{'(counted)' if v['counted'] else '(' + v['note'] + ')'}")
            r = rounds[0]
            console.print(f"  round {r.round_id}: {r.state} — {r.reason}" + (f", tx {r.tx_hash}" if r.tx_hash else ""))
            for label, addr, before in (("Safe", net.safe, safe_before), ("hot_wallet", hot, hot_before), ("outsider", outsider, out_before)):
                console.print(f"  {label}: {format_ether(before)} -> {format_ether(await chain.w3.eth.get_balance(addr))}")
            await net.stop()
    finally:
        await net.stop()
        await chain.close()
