"""`concilium validate` and `concilium run`: check a YAML file; run its agents (once, or as a service)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Optional

import typer

from concilium.cli.console import console, err, fail, progress, until_stopped
from concilium.cli.console import run as run_async
from concilium.errors import ConciliumError


def validate(file: Path = typer.Argument(..., help="agents YAML or an oracle node.yaml")) -> None:
    """Check a YAML file (agents, or an oracle node.yaml); print every error with its path and line."""
    from concilium.oracle.config import NodeSpec, is_node_yaml
    from concilium.spec import load_spec, load_yaml

    if is_node_yaml(file):
        try:
            node = load_yaml(file, NodeSpec)
        except ConciliumError as e:
            fail(e, e.exit_code)
        console.print(f"[green]ok[/green] {file}: oracle node for {node.oracle}, {len(node.peers)} peer(s), listening on port {node.listen.port}")
        return
    try:
        spec = load_spec(file)
    except ConciliumError as e:
        fail(e, e.exit_code)
    console.print(f"[green]ok[/green] {file}: {len(spec.agents)} agent(s), {len(spec.chains)} chain(s), {len(spec.models)} model(s)")


def run_agents(
    file: Path = typer.Argument(..., help="agents YAML"),
    once: bool = typer.Option(False, "--once", help="step every agent once, concurrently, then exit (default: run as a service)"),
    agent: Optional[list[str]] = typer.Option(None, "--agent", "-a", help="only these agents"),
) -> None:
    """Run the agents in FILE as a service: schedules, memory, HTTP API, metrics (--once: one concurrent step each)."""
    from concilium.spec import load_spec

    try:
        spec = load_spec(file)
    except ConciliumError as e:
        fail(e, e.exit_code)
    run_async(_run_agents(spec, once, agent or [], file))


async def _run_agents(spec, once: bool, only: list[str], path: Path) -> None:
    from concilium.runtime import Runtime
    from concilium.show import print_step

    if not once:
        return await _serve(path)
    async with Runtime.open(spec, progress=progress) as rt:
        agents = [a for n, a in rt.agents.items() if not only or n in only]
        if not agents:
            raise ConciliumError(f"no agent matches {only}; defined: {', '.join(rt.agents)}")
        results = await asyncio.gather(*(a.step() for a in agents), return_exceptions=True)
        for a, r in zip(agents, results):
            if isinstance(r, ConciliumError):
                err.print(f"[yellow]{a.name}: step failed:[/yellow] {r}")
            elif isinstance(r, BaseException):
                raise r
            else:
                print_step(console, r)


async def _serve(path: Path) -> None:
    """The long-running service until SIGTERM/SIGINT; SIGHUP reloads the YAML."""
    from concilium.service.service import AgentService

    async with AgentService.open(path, progress=progress) as service:
        loop = asyncio.get_running_loop()

        def reload() -> None:
            async def go() -> None:
                try:
                    changes = await service.reload()
                    err.print(f"reloaded {path}: {', '.join(changes) or 'no changes'}")
                except ConciliumError as e:
                    err.print(f"[yellow]reload refused, agents unchanged:[/yellow] {e}")

            asyncio.ensure_future(go())

        loop.add_signal_handler(signal.SIGHUP, reload)
        api = service.api_server.url if service.api_server else "disabled"
        err.print(f"running {len(service.agents)} agent(s); API {api}; Ctrl-C or SIGTERM stops, SIGHUP reloads")
        await until_stopped()
        err.print("stopping: letting in-flight steps finish")
