"""A real headless Chromium (Debian's `chromium`) driven through the DevTools protocol: start it
with a fresh profile, open a page, evaluate JavaScript in it, take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from concilium.stack.process import ManagedProcess, free_port

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,1000"]


class Chromium:
    def __init__(self):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        assert exe, "chromium is not installed (make install puts Debian's package there)"
        self.profile = Path(tempfile.mkdtemp(prefix="concilium-chromium-"))
        self.port = free_port()
        self.process = ManagedProcess("chromium", [exe, *FLAGS, f"--user-data-dir={self.profile}",
                                                   f"--remote-debugging-port={self.port}", "about:blank"], self.profile / "chromium.log")
        self._ids = itertools.count(1)
        self.ws = None
        self.console: list[str] = []

    async def __aenter__(self) -> "Chromium":
        self.process.start()
        end = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    pages = [t for t in (await http.get(f"http://127.0.0.1:{self.port}/json/list")).json() if t["type"] == "page"]
                    if pages:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < end, "chromium did not start"
                await asyncio.sleep(0.2)
        self.ws = await connect(pages[0]["webSocketDebuggerUrl"], max_size=None)
        await self.send("Runtime.enable")
        await self.send("Page.enable")
        return self

    async def __aexit__(self, *exc) -> None:
        if self.ws is not None:
            await self.ws.close()
        self.process.stop()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def send(self, method: str, **params) -> dict:
        msg_id = next(self._ids)
        await self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("method") == "Runtime.exceptionThrown":
                self.console.append(msg["params"]["exceptionDetails"].get("text", "exception"))
            if msg.get("id") == msg_id:
                assert "error" not in msg, msg["error"]
                return msg["result"]

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def eval(self, expression: str):
        r = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if value := await self.eval(expression):
                return value
            await asyncio.sleep(0.25)
        raise AssertionError(f"page never satisfied: {expression}")

    async def screenshot(self, path: Path) -> Path:
        data = (await self.send("Page.captureScreenshot", format="png"))["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
