"""A throwaway PostgreSQL server from the system's packages (Debian's `postgresql`): initdb
in a temp dir, a free port, trust auth on localhost only. For tests, benchmarks and trying
several service instances on one machine; production points `store_url` at a real server."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from concilium.errors import StackError
from concilium.stack.process import ManagedProcess, Progress, free_port

USER = "concilium"


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4])) or \
        ([shutil.which(name)] if shutil.which(name) else [])
    if not found:
        raise StackError(f"PostgreSQL's {name} is not installed; `apt-get install postgresql` (make test does)")
    return found[-1]


class PostgresServer:
    def __init__(self):
        # its own temp dir: when we are root, the server runs as `postgres`, which must reach it
        self.base = Path(tempfile.mkdtemp(prefix="concilium-pg-"))
        self.port = free_port()
        self.os_user = "postgres" if os.geteuid() == 0 else None  # postgres refuses to run as root
        self.process: ManagedProcess | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{database}"

    async def start(self, progress: Progress = lambda _: None) -> "PostgresServer":
        data, sock = self.base / "data", self.base / "sock"
        sock.mkdir(parents=True, exist_ok=True)
        if self.os_user:
            shutil.chown(self.base, self.os_user)
            shutil.chown(sock, self.os_user)
        if not (data / "PG_VERSION").exists():
            progress("initialising a PostgreSQL cluster")
            r = subprocess.run([_bin("initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
                               capture_output=True, text=True, user=self.os_user, group=self.os_user)
            if r.returncode:
                raise StackError(f"initdb failed: {(r.stderr or r.stdout).strip()[-500:]}")
        argv = [_bin("postgres"), "-D", str(data), "-p", str(self.port), "-k", str(sock), "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"]
        self.process = ManagedProcess("postgres", argv, self.base / "postgres.log", user=self.os_user)
        self.process.start()
        await self.process.wait_ready(self._accepts, 60, progress, f"PostgreSQL on port {self.port}")
        return self

    async def _accepts(self) -> bool:
        import asyncpg

        try:
            conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user=USER, database="postgres", timeout=2)
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
            return False
        await conn.close()
        return True

    async def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its async URL."""
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user=USER, database="postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.base, ignore_errors=True)
