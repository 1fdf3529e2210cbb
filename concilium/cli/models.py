"""`concilium models up|servers|stop`: the machine's shared model servers (stack/shared.py).

`up` starts (or reuses) the shared server for a model and returns, leaving it up for the idle
time so that the next `demo`, `run`, test session or benchmark reuses it; `servers` lists them;
`stop` stops one or all.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import typer
from rich.table import Table

from concilium.cli.console import console, progress, run

models_app = typer.Typer(no_args_is_help=True, help="The machine's shared model servers (reused across commands).")


@models_app.command("up")
def up(serve: str = typer.Argument("bundled", help="what to serve: bundled, bundled:<key>, a model dir or hub id"),
       as_json: bool = typer.Option(False, "--json", help="print url, served name, model id and timing as JSON")) -> None:
    """Start (or reuse) the shared server for a model and leave it running for the next commands."""
    run(_up(serve, as_json))


async def _up(serve: str, as_json: bool) -> None:
    from concilium.llm.client import ModelClient
    from concilium.stack.bundled import family_of_serve
    from concilium.stack.embedded import EmbeddedStack
    from concilium.stack.shared import SharedServer

    t0 = time.monotonic()
    stack = EmbeddedStack(Path(tempfile.mkdtemp(prefix="concilium-models-")), progress=progress)
    try:
        server, digest = await stack.model(serve)
        # the id a `run` with default sampling records for this model
        model_id = await ModelClient(server.url, server.served_name, weights_digest=digest, family=family_of_serve(serve)).model_id()
        shared = isinstance(server, SharedServer)
        info = {"url": server.url, "served_name": server.served_name, "model_id": model_id, "shared": shared,
                "reused": shared and server.reused, "seconds": round(time.monotonic() - t0, 2),
                "entry": str(server.entry_dir) if shared else None}
    finally:
        stack.stop()
    if as_json:
        console.print_json(json.dumps(info))
    else:
        how = "reused" if info["reused"] else "started" if shared else "started privately and stopped again (sharing is off)"
        console.print(f"{info['served_name']} at {info['url']} ({how}, {info['seconds']} s); model id {model_id}")


@models_app.command("servers")
def servers() -> None:
    """The shared servers running on this machine."""
    from concilium.stack.embedded import default_cache_dir
    from concilium.stack.shared import entries, live_leases, unusable

    t = Table("key", "model", "url", "state", "up", "users", "stops when idle for")
    for d, e in entries(default_cache_dir()):
        state = e.get("state", "?")
        if state == "ready" and (why := unusable(d, e)):
            state = f"[red]unusable: {why}[/red]"
        t.add_row(d.name, str(e.get("served_name")), str(e.get("url")), state, f"{(time.time() - e.get('started_at', time.time())) / 60:.0f} min",
                  str(len(live_leases(d))), f"{float(e.get('idle', 0)):.0f} s")
    if t.row_count:
        console.print(t)
    else:
        console.print("no shared model servers running")


@models_app.command("stop")
def stop(key: str = typer.Argument(None, help="the key `concilium models servers` shows; all when omitted")) -> None:
    """Stop shared servers now, even if in use (their users see the model as unavailable)."""
    from concilium.stack.embedded import default_cache_dir
    from concilium.stack.shared import entries, stop_supervisor

    found = [(d, e) for d, e in entries(default_cache_dir()) if key is None or d.name == key]
    if key is not None and not found:
        progress(f"no shared server with key {key}; `concilium models servers` lists them")
        raise typer.Exit(1)
    for d, e in found:
        stop_supervisor(d, e)
        console.print(f"stopped {e.get('served_name')} at {e.get('url')} ({d.name})")
