"""`concilium trace` and `concilium replay`: everything behind a transaction, an oracle request
or a decision; and the recorded model asked the recorded question again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from concilium.cli.console import console, err, fail, run

_DIRS = typer.Option([Path(".concilium")], "--state-dir", "-d", help="where to look for stores (agent state.db, oracle node*.db); repeatable")
_URLS = typer.Option([], "--store-url", help="an agent state store's SQLAlchemy URL; repeatable")


def trace(
    query: str = typer.Argument(..., help="a transaction hash, an oracle request id, or a decision id"),
    state_dirs: List[Path] = _DIRS,
    store_urls: List[str] = _URLS,
    rpc: Optional[str] = typer.Option(None, help="also show the transaction and receipt as this RPC has them now"),
    as_json: bool = typer.Option(False, "--json", help="JSON for machines"),
) -> None:
    """Everything behind a transaction, oracle request or decision: agent or node, model id and
    what it hashes, prompt, raw output, guard verdict and flows, transaction and receipt."""
    from concilium.trail import Stores, attach_chain, kind_of
    from concilium.trail import trace as find

    try:
        kind_of(query)
    except Exception as e:
        fail(e, 2)
    missing = [d for d in state_dirs if not d.exists()]
    if missing and not store_urls:
        fail(ValueError(f"no state dir at {missing[0]}; pass --state-dir (the dir holding state.db or node*.db) or --store-url"), 2)

    async def go() -> list[dict[str, Any]]:
        stores = Stores.discover([d for d in state_dirs if d.exists()], store_urls)
        try:
            found = await find(query, stores)
            if rpc and found:
                await attach_chain(found, rpc)
            return found
        finally:
            await stores.close()

    found = run(go())
    if not found:
        fail(LookupError(f"nothing recorded for {query} in {', '.join(map(str, state_dirs))}"), 1)
    if as_json:
        print(json.dumps(found, default=str, indent=1))
        return
    for entry in found:
        _show(entry)


def _show(e: dict[str, Any]) -> None:
    from rich.markup import escape

    def line(label: str, value: Any) -> None:
        if value not in (None, "", {}, []):
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            console.print(f"[bold]{label}:[/bold] {escape(text)}")

    if e["what"] == "agent decision":
        console.rule(f"decision {e['decision_id']} · agent {e['agent']} · {e['status']}")
    else:
        console.rule(f"oracle request {e['request_id']} · node {e['node']} · {e['status']}")
        line("oracle", e["oracle"])
        line("consumer", e["consumer"])
        line("kind", e["kind"])
    m = e["model"]
    line("model id", m["model_id"])
    line("  family", m.get("family"))
    line("  weights digest", m["weights_digest"] + (f" (served name {m['served_name']})" if m.get("served_name") else ""))
    line("  engine", m["engine"])
    line("  sampling", m["sampling"])
    if e["what"] == "agent decision":
        line("inputs hash", e["inputs_hash"])
        line("prompt", e["prompt"])
        line("raw output", e["raw_output"])
        line("decision", e["decision"])
        line("guard", e["guard"])
        line("error", e["error"])
    else:
        line("question", e["question"])
        line("raw output", e["raw_output"])
        line("answer", e["answer"])
        line("peer answers", e["peer_answers"])
        for g in e.get("answers_by_family", []):
            line(f"answers of family {g['family']}", {**g["answers"], "model ids": [x["model_id"] for x in g["models"]]})
        line("result", e["result"])
        line("note", e["note"])
    line("transaction", e["transaction"])
    line("receipt", e["receipt"])
    line("on chain now", e.get("chain"))
    line("store", e["store"])


def replay(
    decision_id: str = typer.Argument(..., help="the decision id (see `concilium trace` or `audit export`)"),
    state_dir: Path = typer.Option(Path(".concilium"), "--state-dir", "-d", help="the dir holding state.db"),
    store_url: Optional[str] = typer.Option(None, help="an SQLAlchemy URL instead of state_dir/state.db"),
    model_url: str = typer.Option(..., help="the vLLM server to ask (OpenAI API base, http://host:port/v1)"),
    model_name: Optional[str] = typer.Option(None, help="served model name (default: the recorded one)"),
    as_json: bool = typer.Option(False, "--json", help="JSON for machines"),
) -> None:
    """Ask the recorded model the recorded prompt with the recorded sampling; report identical or
    different, with a diff. Exit 0 identical, 1 different."""
    from concilium.trail import DECISION_ID, replay_decision

    if not DECISION_ID.match(decision_id.lower()):
        fail(ValueError(f"{decision_id!r} is not a decision id (a UUID)"), 2)
    if not store_url and not (state_dir / "state.db").exists():
        fail(FileNotFoundError(f"no state database at {state_dir / 'state.db'}; pass --state-dir or --store-url"), 2)
    url = store_url or f"sqlite+aiosqlite:///{state_dir / 'state.db'}"
    result = run(replay_decision(url, decision_id, model_url, model_name))
    if as_json:
        print(json.dumps(result, default=str, indent=1))
    else:
        if not result["same_model"]:
            err.print(f"[yellow]note:[/yellow] the server's model id {result['replayed_model']['model_id']} differs from the recorded "
                      f"{result['recorded_model']['model_id']} (weights, engine or sampling changed)")
        if result["identical"]:
            console.print(f"[green]identical[/green]: decision {decision_id} replays to the same output")
        else:
            console.print(f"[red]different[/red]: decision {decision_id} replays to another output")
            console.print(result["diff"], markup=False, highlight=False)
    raise typer.Exit(0 if result["identical"] else 1)
