"""`concilium committee ...`: deploy a committee's Safe, run one member, show the committee."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from concilium.cli.console import console, fail, progress, run, until_stopped
from concilium.errors import ConciliumError

committee_app = typer.Typer(no_args_is_help=True, help="Committees: several independent agents, one Safe, a transaction only when a quorum agrees.")

FILE = typer.Argument(..., help="the YAML with a `committees:` block")
NAME = typer.Option(None, "--committee", "-c", help="which committee (default: the only one)")


def _load(file: Path, name: Optional[str]):
    from concilium.spec import load_spec

    try:
        spec = load_spec(file)
    except ConciliumError as e:
        fail(e, e.exit_code)
    if name is None:
        if len(spec.committees) != 1:
            fail(ConciliumError(f"{file} defines {len(spec.committees)} committees; pick one with --committee"), 2)
        name = spec.committees[0].name
    return spec, name


@committee_app.command("deploy")
def deploy(file: Path = FILE, committee: Optional[str] = NAME,
           deployer: Optional[str] = typer.Option(None, help="wallet that pays for the deployment (default: the agent's)")) -> None:
    """Deploy the Safe (owners: the members' keys, threshold k) and its CommitteeGuard from `onchain_limits`."""
    spec, name = _load(file, committee)

    async def go():
        from concilium.committee.sdk import Committee

        async with Committee.open(spec, name, progress=progress) as c:
            info = await c.deploy(deployer)
            console.print(f"Safe [bold]{info['safe']}[/bold] with CommitteeGuard {info['guard']} "
                          f"({c.committee.threshold} of {len(c.committee.members)}); recorded in {c.record_file}")

    run(go())


@committee_app.command("member")
def member(file: Path = FILE, member_name: str = typer.Option(..., "--member", "-m", help="which member this process is"),
           committee: Optional[str] = NAME) -> None:
    """Run one member: its own key, model and store; a round on every schedule slot, until stopped."""
    spec, name = _load(file, committee)

    async def go():
        from concilium.committee.sdk import Committee

        async with Committee.open(spec, name, progress=progress) as c:
            m = await (await c.member(member_name)).start(tick=True)
            console.print(f"member {member_name} ({m.me}) of {name}: Safe {m.safe.address}, listening on {m.url}, "
                          f"a round every {c.committee.schedule:g} s")
            await until_stopped()

    run(go())


@committee_app.command("status")
def status(file: Path = FILE, committee: Optional[str] = NAME,
           rounds: int = typer.Option(5, min=1, max=1000, help="last rounds per member"),
           as_json: bool = typer.Option(False, "--json", help="print JSON (the full trail of those rounds)")) -> None:
    """The Safe (owners, threshold, nonce, guard, balance, what differs from the YAML) and members' last rounds."""
    spec, name = _load(file, committee)

    async def go():
        from concilium.committee.sdk import Committee

        async with Committee.open(spec, name, progress=progress) as c:
            return await c.status(rounds)

    s = run(go())
    if as_json:
        console.print_json(json.dumps(s, default=str))
        return
    console.print(f"committee [bold]{s['committee']}[/bold]: Safe {s['safe']} (chain {s['chain_id']}), {s['threshold']} of "
                  f"{len(s['owners'])}, nonce {s['nonce']}, balance {s['balance_wei'] / 1e18:g} ETH, guard {s['guard']}")
    if "eth_remaining_today_wei" in s:
        console.print(f"  guard: {s['eth_remaining_today_wei'] / 1e18:g} ETH may still leave today")
    for p in s["problems"]:
        console.print(f"  [red]problem:[/red] {p}")
    for m, rs in s["members"].items():
        for r in rs:
            console.print(f"  {m} {r['round_id']}: {r['state']} {r['reason']} {r['tx_hash'] or ''}")
