"""What every `concilium` command shares: the consoles, progress lines, and the rule that a user
error prints one clear line and exits non-zero, without a traceback."""

from __future__ import annotations

import asyncio
import signal
from typing import Any, Coroutine, NoReturn

import typer
from rich.console import Console

from concilium.errors import ConciliumError

console = Console(stderr=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def progress(msg: str) -> None:
    err.print(f"[dim]…[/dim] {msg}")


def fail(e: BaseException, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/bold red] {e}")
    raise typer.Exit(code)


def run(coro: Coroutine) -> Any:
    """Run a command's coroutine; ConciliumError becomes a one-line error, Ctrl-C exit 130."""
    try:
        return asyncio.run(coro)
    except ConciliumError as e:
        fail(e, e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130)


async def until_stopped() -> None:
    """Wait for SIGTERM or SIGINT (also when started in the background, where SIGINT is ignored)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
