"""Time to a usable model for a `concilium` process: a private vLLM start against reusing the
machine's shared server (stack/shared.py), measured in the same run. Prints JSON.

Each figure is one `concilium models up --json` process (a command that needs the model, gets a
model id from a ready server, and exits), run in a row against a registry of its own (a temp
cache dir with the prepared bundled model linked in, so the machine's shared servers are not
touched):

1. private: CONCILIUM_SHARED_SERVERS=0, the server started and stopped by the process;
2. shared, first: starts the shared server under its supervisor (what sharing costs the first
   process);
3. shared, second: a later process reusing it (what every later `demo`, `run`, test session
   and benchmark pays).

`time_to_model_s` is measured inside the process (stack opened to model id known);
`process_s` is the wall time from spawn to exit, imports and (private) the server's stop included.

    .venv/bin/python benchmarks/shared_server.py

The machine may be shared: compare figures within one run, not across runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit  # noqa: E402

from concilium.errors import StackError  # noqa: E402
from concilium.stack.bundled import bundled  # noqa: E402
from concilium.stack.embedded import default_cache_dir  # noqa: E402
from concilium.stack.model import prepare_bundled_model  # noqa: E402
from concilium.stack.shared import SHARED_ENV, entries, stop_supervisor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def models_up(cache: Path, shared: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONCILIUM_CACHE": str(cache), SHARED_ENV: "1" if shared else "0"}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "concilium.cli", "models", "up", "--json"], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=900)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise StackError("`concilium models up` failed: " + (out.stderr.strip().splitlines() or ["(no output)"])[-1])
    got = json.loads(out.stdout)
    return {"time_to_model_s": got["seconds"], "process_s": round(wall, 2), "shared": got["shared"], "reused": got["reused"],
            "model_id": got["model_id"]}


async def main() -> dict:
    prepared = await asyncio.to_thread(prepare_bundled_model, default_cache_dir(), lambda m: print(m, file=sys.stderr))
    cache = Path(tempfile.mkdtemp(prefix="concilium-shared-bench-"))
    (cache / "models").mkdir()
    (cache / "models" / bundled("bundled").served_name).symlink_to(prepared)
    load0 = os.getloadavg()[0]
    try:
        private = await asyncio.to_thread(models_up, cache, False)
        first = await asyncio.to_thread(models_up, cache, True)
        second = await asyncio.to_thread(models_up, cache, True)
    finally:
        for d, e in entries(cache):
            stop_supervisor(d, e)
    if private["shared"] or first["reused"] or not second["reused"]:
        raise StackError(f"expected a private start, a shared start and a reuse; got {private}, {first}, {second}")
    if not private["model_id"] == first["model_id"] == second["model_id"]:
        raise StackError("the shared server's model id differs from the private server's")
    return {"benchmark": "shared_server", "model": bundled("bundled").served_name,
            "private": private, "shared_first": first, "shared_reuse": second,
            "reuse_speedup_vs_private": round(private["time_to_model_s"] / second["time_to_model_s"], 1),
            "reuse_speedup_vs_private_process": round(private["process_s"] / second["process_s"], 1),
            "first_shared_start_vs_private": round(first["time_to_model_s"] / private["time_to_model_s"], 2),
            "same_model_id": True, "load_average_1min": [round(load0, 1), round(os.getloadavg()[0], 1)]}


if __name__ == "__main__":
    emit("shared_server", main())
