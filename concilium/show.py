"""Rendering step records for people (rich)."""

from __future__ import annotations

import json

from rich.console import Console

from concilium.agents.records import StepRecord

_COLOUR = {"confirmed": "green", "refused": "red", "noop": "cyan", "dry_run": "cyan", "error": "yellow",
           "reverted": "red", "dropped": "yellow"}


def print_step(console: Console, r: StepRecord, observation: bool = True) -> None:
    colour = _COLOUR.get(r.status, "white")
    console.print(f"[bold]{r.agent}[/bold] step [{colour}]{r.status}[/{colour}]")
    if observation and r.observation:
        console.print("  observation:")
        for k, v in json.loads(r.observation).items():
            console.print(f"    {k}: {v}")
    if r.action:
        console.print(f"  decision: {r.action} {r.args or ''}  [dim](model {r.model_name}, id {str(r.model_id)[:12]}…)[/dim]")
        if r.reason:
            console.print(f"  model's reason: [dim]{r.reason[:120]}[/dim]")
    if r.summary:
        console.print(f"  intent: {r.summary}")
    if r.status == "refused":
        console.print(f"  [red]refused by rule {r.rule}[/red]: {r.verdict}")
    if r.tx_hash:
        console.print(f"  tx {r.tx_hash} nonce {r.nonce} block {r.block_number} gas {r.gas_used}")
    if r.error:
        console.print(f"  [yellow]{r.error}[/yellow]")
    if r.timings:
        stages = json.loads(r.timings)
        console.print("  [dim]" + "  ".join(f"{k} {v * 1000:.0f} ms" for k, v in stages.items()) + "[/dim]")
