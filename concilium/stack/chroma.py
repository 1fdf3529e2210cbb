"""A chroma server (`chroma run`, shipped by the chromadb package) for agent memory shared
between processes or machines; agents reach it through `memory_server: http://host:port`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx

from concilium.errors import StackError
from concilium.stack.process import ManagedProcess, Progress, free_port


class ChromaServer:
    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: ManagedProcess | None = None

    async def start(self, progress: Progress = lambda _: None) -> "ChromaServer":
        exe = Path(sys.executable).parent / "chroma"
        exe = str(exe) if exe.exists() else shutil.which("chroma")
        if not exe:
            raise StackError("the `chroma` command is missing; it comes with the chromadb package (make install)")
        argv = [exe, "run", "--path", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = ManagedProcess("chroma", argv, self.data_dir.parent / f"chroma-{self.port}.log",
                                      env={"ANONYMIZED_TELEMETRY": "False"})
        self.process.start()
        await self.process.wait_ready(self._up, 60, progress, f"chroma server on port {self.port}")
        return self

    async def _up(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                return (await c.get(f"{self.url}/api/v2/heartbeat")).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
