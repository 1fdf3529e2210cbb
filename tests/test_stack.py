"""The processes we own: started on free ports, stopped without orphans, and a clear error with
the log's tail when one dies while starting."""

import os
import sys

import pytest

from concilium.errors import StackError
from concilium.stack.anvil import Anvil
from concilium.stack.process import ManagedProcess
from concilium.stack.vllm_server import VLLMServer


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie awaiting its reaper counts as gone
            return f.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


async def test_anvil_starts_and_stops_without_orphans(tmp_path):
    a = await Anvil(tmp_path).start()
    pid = a.process.proc.pid
    assert await a._ready()
    a.stop()
    assert gone(pid)
    assert not await a._ready()


async def test_a_process_that_dies_while_starting_reports_its_log_tail(tmp_path):
    p = ManagedProcess("fake-server", [sys.executable, "-c", "import sys; print('boom: no such model'); sys.exit(3)"], tmp_path / "x.log")
    p.start()

    async def never() -> bool:
        return False

    with pytest.raises(StackError) as e:
        await p.wait_ready(never, timeout=30, progress=lambda _: None, what="fake")
    assert "exited with code 3" in str(e.value) and "boom: no such model" in str(e.value)


async def test_vllm_with_a_missing_model_fails_clearly(tmp_path):
    server = VLLMServer(str(tmp_path / "no-such-model"), "nothing", tmp_path)
    with pytest.raises(StackError) as e:
        await server.start()
    assert "vLLM exited" in str(e.value) and str(server.process.log_path) in str(e.value)


def test_children_do_not_outlive_a_killed_parent(tmp_path):
    """kill -9 of the process that started anvil leaves no orphan holding a port."""
    import subprocess
    import time

    code = (
        "import asyncio, time\n"
        "from pathlib import Path\n"
        "from concilium.stack.anvil import Anvil\n"
        "async def main():\n"
        f"    a = await Anvil(Path({str(tmp_path)!r})).start()\n"
        "    print(a.process.proc.pid, flush=True)\n"
        "    time.sleep(120)\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(child)
