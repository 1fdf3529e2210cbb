"""`concilium audit export`: the decision trail as JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from concilium.cli.console import err, fail, run
from concilium.errors import ConciliumError


def audit_export(
    state_dir: Path = typer.Option(Path(".concilium"), help="the service's state dir (holds state.db)"),
    store_url: Optional[str] = typer.Option(None, help="an SQLAlchemy URL instead of state_dir/state.db"),
    agent: Optional[str] = typer.Option(None, help="only this agent"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write here instead of stdout"),
) -> None:
    """Every decision as JSON lines: inputs hash, model id, prompt, output, verdict, tx, receipt."""
    from concilium.agents.records import StateStore
    from concilium.db import store_errors

    url = store_url or f"sqlite+aiosqlite:///{state_dir / 'state.db'}"
    if not store_url and not (state_dir / "state.db").exists():
        fail(ConciliumError(f"no state database at {state_dir / 'state.db'}; pass --state-dir or --store-url"), 2)

    async def export() -> int:
        store = StateStore(url, migrate=False)  # a reader: never changes the schema
        try:
            async with store_errors(url, "read decisions"):
                rows = await store.recent(agent, limit=10**9)
        finally:
            await store.close()
        lines, abandoned = [], 0
        for r in reversed(rows):
            abandoned += r.status == "abandoned"
            d = r.as_dict()
            d.pop("raw_tx", None)
            lines.append(json.dumps(d, default=str))
        text = "\n".join(lines) + ("\n" if lines else "")
        if out:
            out.write_text(text)
        else:
            sys.stdout.write(text)
        return len(lines), abandoned

    n, abandoned = run(export())
    note = f", {abandoned} abandoned (the process stopped between plan and sign; nothing was sent)" if abandoned else ""
    err.print(f"exported {n} decision(s){note}")
