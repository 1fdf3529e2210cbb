"""The embedded chain: a local anvil from the pinned npm package, on a free port."""

from __future__ import annotations

from pathlib import Path

import httpx

from concilium.chain.wallets import DEV_CHAIN_ID, DEV_MNEMONIC
from concilium.stack.process import ManagedProcess, Progress, free_port
from concilium.stack.tools import foundry_binary



class Anvil:
    def __init__(self, state_dir: Path, port: int | None = None, block_time: float | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [str(foundry_binary("anvil")), "--host", "127.0.0.1", "--port", str(self.port),
                "--chain-id", str(DEV_CHAIN_ID), "--mnemonic", DEV_MNEMONIC, "--accounts", "10"]
        if block_time:
            argv += ["--block-time", str(block_time)]
        self.process = ManagedProcess("anvil", argv, state_dir / "logs" / f"anvil-{self.port}.log")

    async def start(self, progress: Progress = lambda _: None) -> "Anvil":
        progress(f"starting anvil on port {self.port}")
        self.process.start()
        await self.process.wait_ready(self._ready, timeout=30, progress=progress, what="anvil")
        return self

    async def _ready(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=1) as c:
                r = await c.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
                return r.status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.stop()
