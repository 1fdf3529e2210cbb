"""A child process we own: started in its own process group, its output in a log file,
ready when a probe says so, stopped with SIGTERM then SIGKILL so that nothing is orphaned."""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Awaitable, Callable

from concilium.errors import StackError

Progress = Callable[[str], None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


try:  # loaded in the parent: a child that runs as another user may not be able to read our install
    import ctypes

    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """Linux: SIGTERM the child if we die without cleaning up (kill -9), so no orphan keeps a port."""
    try:
        if _LIBC is not None:
            _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ManagedProcess:
    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None, user: str | None = None,
                 detached: bool = False):
        """`detached`: the process is meant to outlive us (a shared server's supervisor): it is not
        stopped when we exit or die."""
        self.user = user
        self.detached = detached  # run as this user (servers such as PostgreSQL refuse to run as root)
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
                start_new_session=True,  # own process group: we can stop its children too
                preexec_fn=None if self.detached else _die_with_parent,
                user=self.user,
                group=self.user,
            )
        except FileNotFoundError:
            raise StackError(f"{self.name}: {self.argv[0]} not found; run `make install`") from None
        finally:
            log.close()
        if not self.detached:
            atexit.register(self.stop)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait_ready(
        self, probe: Callable[[], Awaitable[bool]], timeout: float, progress: Progress, what: str,
        doing: Callable[[], str] | None = None,
    ) -> None:
        """`doing`, if given, says what the process is busy with now (e.g. from its log)."""
        start = time.monotonic()
        last_note = 0.0
        while True:
            if not self.alive:
                code = self.proc.returncode if self.proc else None
                raise StackError(
                    f"{self.name} exited with code {code} while starting; its log {self.log_path} ends with:\n"
                    + log_tail(self.log_path)
                )
            if await probe():
                progress(f"{what} ready in {time.monotonic() - start:.1f} s")
                return
            elapsed = time.monotonic() - start
            if elapsed > timeout:
                self.stop()
                raise StackError(
                    f"{self.name} not ready after {timeout:.0f} s; see {self.log_path}:\n" + log_tail(self.log_path)
                )
            if elapsed - last_note >= 10:
                progress(f"waiting for {what}... {elapsed:.0f} s" + (f" ({doing()})" if doing else ""))
                last_note = elapsed
            await asyncio.sleep(0.05 if elapsed < 2 else 0.5)

    def stop(self, grace: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
