"""The supervisor of one shared model server: `python -m concilium.stack.supervisor <entry dir>`.

Started detached (its own session) by the first process that needs the server (stack/shared.py),
so the server outlives that process. Runs the command in `launch.json` as its child, records
`entry.json` (state starting, then ready), and stops the child, forgetting the entry, when:
no live lease has been held for the launch's idle seconds; the child exits; or it gets SIGTERM
(`concilium models stop`). Retiring for idleness happens under the entry's lock, so no process
leases a server that is being stopped.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from concilium.stack.process import ManagedProcess, log_tail
from concilium.stack.shared import answers, live_leases, lock_path, locked, read_json, write_json


def _forget(entry_dir: Path) -> None:
    entry = read_json(entry_dir / "entry.json")
    if entry is not None and entry.get("supervisor_pid") == os.getpid():
        (entry_dir / "entry.json").unlink(missing_ok=True)


def _idle_retired(entry_dir: Path) -> bool:
    """Forget the entry if still no lease, holding the lock (skip this round if someone holds it)."""
    with locked(lock_path(entry_dir), blocking=False) as held:
        if not held or live_leases(entry_dir):
            return False
        _forget(entry_dir)
        return True


def supervise(entry_dir: Path) -> int:
    launch = read_json(entry_dir / "launch.json")
    if launch is None:
        print(f"no launch.json in {entry_dir}", flush=True)
        return 2
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.append(True))
    child = ManagedProcess("server", launch["argv"], Path(launch["log"]), launch["env"])
    child.start()
    entry = {k: launch[k] for k in ("url", "port", "served_name", "model", "idle")}
    entry |= {"supervisor_pid": os.getpid(), "server_pid": child.proc.pid, "state": "starting", "started_at": time.time()}
    write_json(entry_dir / "entry.json", entry)
    print(f"started {launch['served_name']} (pid {child.proc.pid}) on {launch['url']}", flush=True)
    idle, reason = float(launch["idle"]), "stopped"
    while not stop and child.alive and not answers(launch["url"], launch["served_name"], launch["model"]):
        time.sleep(0.5)
    if child.alive and not stop:
        write_json(entry_dir / "entry.json", entry | {"state": "ready", "ready_at": time.time()})
        print(f"ready; stops after {idle:.0f} s without a live lease", flush=True)
        last_used = time.monotonic()
        while not stop and child.alive:
            if live_leases(entry_dir):
                last_used = time.monotonic()
            elif time.monotonic() - last_used >= idle and _idle_retired(entry_dir):
                reason = f"idle for {idle:.0f} s with no live lease"
                break
            time.sleep(min(1.0, max(idle / 4, 0.1)))
    if not child.alive:
        reason = f"the server exited with code {child.proc.returncode if child.proc else None}; its log ends with:\n" \
                 + log_tail(Path(launch["log"]))
    _forget(entry_dir)
    child.stop()
    print(f"stopping: {reason}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
