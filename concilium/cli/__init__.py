"""`concilium` on the command line. One module per command group; this one only assembles them.

Command modules import heavy libraries inside the command, so `--help` and `validate` stay fast.
"""

from __future__ import annotations

import typer

from concilium.cli import agents, audit, committee, devnet, models, oracle, system, trace

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Autonomous onchain AI agents on open-weight models.")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="log steps as JSON lines on stderr")) -> None:
    from concilium.logs import setup_logging

    setup_logging(verbose)


app.command()(agents.validate)
app.command("run")(agents.run_agents)
app.command()(system.demo)
app.command()(system.doctor)
app.command()(devnet.devnet)
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail of every decision.")
audit_app.command("export")(audit.audit_export)
app.add_typer(audit_app, name="audit")
app.command()(trace.trace)
app.command()(trace.replay)
app.add_typer(oracle.oracle_app, name="oracle")
app.add_typer(committee.committee_app, name="committee")
app.add_typer(models.models_app, name="models")


def main() -> None:
    app()
