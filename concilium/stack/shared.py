"""Shared model servers: one per machine for each interchangeable configuration, started by the
first process that needs it and reused by `demo`, `run`, tests and benchmarks after it.

Registry: `<cache>/servers/<key>/`, the key a hash of `VLLMServer.identity()` (command without
the port, environment, vLLM build, weights digest). An entry dir holds `launch.json` (what the
supervisor runs), `entry.json` (written by the supervisor: url, pids, state, times), `leases/`
(one file per user: pid, the pid's start time, a nonce) and the logs. `<key>.lock` is held
(fcntl) around "look up or start", so two processes never start two servers for one key.

Reused only when safe: loopback URL, the supervisor alive and ours (its command line names the
entry), the vLLM pid alive and holding the listening socket of the recorded port, /v1/models
naming the served model with the same model dir as root. Anything else is retired (its
supervisor told to stop when it is ours) and a new server is started, except a server other live
processes hold leases on whose processes live and hold its port but that did not answer in time
(busy): that one is left running and this process starts a private server.

Lifetime: the supervisor (stack/supervisor.py) runs in its own session and outlives the process
that started it; it stops vLLM once no live lease has been held for `CONCILIUM_SHARED_IDLE`
seconds (default 600). `CONCILIUM_SHARED_SERVERS=0` gives the old private server instead.
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import hashlib
import json
import os
import signal
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Iterator

import httpx

from concilium.errors import StackError
from concilium.stack.process import ManagedProcess, Progress

if TYPE_CHECKING:
    from concilium.stack.vllm_server import VLLMServer

SHARED_ENV = "CONCILIUM_SHARED_SERVERS"
IDLE_ENV = "CONCILIUM_SHARED_IDLE"
DEFAULT_IDLE = 600.0
START_TIMEOUT = 600.0  # as VLLMServer.start waits
SUPERVISOR = "concilium.stack.supervisor"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


NO_ANSWER = "does not answer"  # in `unusable`'s reason when only the HTTP check failed


class InUse(StackError):
    """A shared server failed a check but other processes hold leases on it: it is left running."""


def sharing_enabled() -> bool:
    return os.environ.get(SHARED_ENV, "1").strip().lower() not in ("0", "no", "false", "off")


def idle_seconds() -> float:
    try:
        return float(os.environ.get(IDLE_ENV, DEFAULT_IDLE))
    except ValueError:
        raise StackError(f"{IDLE_ENV} must be a number of seconds, got {os.environ[IDLE_ENV]!r}") from None


def registry(cache_dir: Path) -> Path:
    return Path(cache_dir) / "servers"


def key_of(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


# --- processes, as /proc shows them --------------------------------------------------------

def start_time(pid: int) -> str | None:
    """The pid's start time in clock ticks since boot (tells a pid from a later one that reuses
    it); None when it is not running (gone, or a zombie waiting for its parent)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except (OSError, IndexError):
        return None


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def is_supervisor_of(pid: int, entry_dir: Path) -> bool:
    """Whether pid is our supervisor for this entry (not a later process that got its pid)."""
    argv = cmdline(pid)
    return SUPERVISOR in argv and str(entry_dir) in argv


def _listening_inodes(port: int) -> set[str]:
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                out.add(f[9])
    return out


def holds_port(pid: int, port: int) -> bool:
    """Whether pid has the socket listening on `port` open (so the port is really its)."""
    inodes = _listening_inodes(port)
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def answers(url: str, served_name: str, model: str, timeout: float = 3.0) -> bool:
    """/v1/models names `served_name` with `model` as its root."""
    try:
        r = httpx.get(url.rstrip("/") + "/models", timeout=timeout)
        data = r.json().get("data", []) if r.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    return any(isinstance(e, dict) and e.get("id") == served_name and e.get("root") == model for e in data)


# --- the entry and its leases ----------------------------------------------------------------

def read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
        return value if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None


def write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1))
    tmp.rename(path)


@contextmanager
def locked(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on `path`; yields False (and holds nothing) when not blocking and busy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def lock_path(entry_dir: Path) -> Path:
    return entry_dir.with_name(entry_dir.name + ".lock")


def take_lease(entry_dir: Path) -> Path:
    leases = entry_dir / "leases"
    leases.mkdir(parents=True, exist_ok=True)
    lease = leases / f"{os.getpid()}-{start_time(os.getpid())}-{uuid.uuid4().hex[:8]}"
    lease.touch()
    return lease


def live_leases(entry_dir: Path) -> list[Path]:
    """The leases whose holder still runs; the others are removed."""
    live = []
    for lease in (entry_dir / "leases").glob("*-*-*"):
        pid, started, _ = lease.name.split("-", 2)
        if pid.isdigit() and start_time(int(pid)) == started:
            live.append(lease)
        else:
            lease.unlink(missing_ok=True)
    return live


def unusable(entry_dir: Path, entry: dict | None) -> str | None:
    """Why this ready entry must not be reused, or None when it is safe to."""
    if entry is None:
        return "no entry"
    url, port = str(entry.get("url", "")), entry.get("port")
    if not any(url.startswith(f"http://{h}:") for h in _LOOPBACK):
        return f"not a loopback URL: {url}"
    sup, server = entry.get("supervisor_pid"), entry.get("server_pid")
    if not isinstance(sup, int) or not is_supervisor_of(sup, entry_dir):
        return "its supervisor is gone"
    if not isinstance(server, int) or start_time(server) is None:
        return "its server process is gone"
    if not isinstance(port, int) or not holds_port(server, port):
        return f"port {port} is not held by its server process"
    for attempt in range(3):  # a busy server (or machine) may answer late: do not retire a server in use for that
        if answers(url, str(entry.get("served_name")), str(entry.get("model")), timeout=5.0 * (attempt + 1)):
            return None
    return f"{url} {NO_ANSWER} with {entry.get('served_name')} from {entry.get('model')}"


def stop_supervisor(entry_dir: Path, entry: dict | None, grace: float = 30.0) -> None:
    """Stop the entry's supervisor (which stops its server) if it is ours; forget the entry."""
    sup = (entry or {}).get("supervisor_pid")
    if isinstance(sup, int) and is_supervisor_of(sup, entry_dir):
        try:
            os.kill(sup, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while is_supervisor_of(sup, entry_dir) and time.monotonic() < deadline:
                time.sleep(0.2)
            if is_supervisor_of(sup, entry_dir):
                os.kill(sup, signal.SIGKILL)  # its vLLM gets SIGTERM from the kernel (parent death signal)
        except (ProcessLookupError, PermissionError):  # gone, or not ours after all
            pass
    current = read_json(entry_dir / "entry.json")
    if current is not None and current.get("supervisor_pid") == sup:
        (entry_dir / "entry.json").unlink(missing_ok=True)


# --- what a user of a shared server holds ----------------------------------------------------

@dataclass
class SharedServer:
    url: str
    served_name: str
    model: str
    port: int
    entry_dir: Path
    lease: Path
    reused: bool
    started_at: float  # epoch seconds
    ready_seconds: float | None = None
    _released: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Release our lease; the supervisor stops the server once it has been idle long enough."""
        if not self._released:
            self._released = True
            self.lease.unlink(missing_ok=True)


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.0f} h"


async def acquire(entry_dir: Path, launch: dict, progress: Progress,
                  start: Callable[[ManagedProcess], Awaitable[None]]) -> SharedServer:
    """The shared server of this entry: reused when safe, else started through a supervisor.
    `launch` says what to run (argv, env, log, port, url, served_name, model); `start` starts
    the supervisor's process and waits until its server is ready (with progress), raising if not."""
    lock = lock_path(entry_dir)
    with locked(lock, blocking=False) as free:
        pass
    if not free:
        progress(f"another process is starting or checking the shared {launch['served_name']} server; waiting for it")
    return await asyncio.to_thread(_acquire_locked, entry_dir, launch, progress, start)


def _acquire_locked(entry_dir: Path, launch: dict, progress: Progress, start) -> SharedServer:
    with locked(lock_path(entry_dir)):
        entry_dir.mkdir(parents=True, exist_ok=True)
        entry = read_json(entry_dir / "entry.json")
        if entry is not None and entry.get("state") == "starting" and is_supervisor_of(entry.get("supervisor_pid", -1), entry_dir):
            progress(f"the shared {launch['served_name']} server is still starting (its starter went away); waiting for it")
            deadline = time.monotonic() + START_TIMEOUT
            while (e := read_json(entry_dir / "entry.json")) and e.get("state") == "starting" \
                    and is_supervisor_of(e.get("supervisor_pid", -1), entry_dir) and time.monotonic() < deadline:
                time.sleep(0.5)
            entry = read_json(entry_dir / "entry.json")
        if entry is not None:
            why = f"not ready ({entry.get('state')})" if entry.get("state") != "ready" else unusable(entry_dir, entry)
            if why is None:
                lease = take_lease(entry_dir)
                return _holding(entry_dir, entry, lease, reused=True, progress=progress)
            # its processes alive and holding the port, yet no answer in time: busy, not broken. Never
            # stop a server others use for that.
            users = live_leases(entry_dir) if why is not None and NO_ANSWER in why else []
            if users:
                raise InUse(f"the shared {launch['served_name']} server at {entry.get('url')} failed a check ({why}) "
                            f"but {len(users)} other process(es) use it")
            progress(f"not reusing the shared {launch['served_name']} server recorded in {entry_dir}: {why}; starting a new one")
            stop_supervisor(entry_dir, entry)
            (entry_dir / "entry.json").unlink(missing_ok=True)
        return _start(entry_dir, launch, progress, start)


def _holding(entry_dir: Path, entry: dict, lease: Path, reused: bool, progress: Progress,
             ready_seconds: float | None = None) -> SharedServer:
    server = SharedServer(entry["url"], entry["served_name"], entry["model"], entry["port"], entry_dir, lease, reused,
                          float(entry.get("started_at", time.time())), ready_seconds)
    atexit.register(server.stop)
    if reused:
        others = len(live_leases(entry_dir)) - 1
        progress(f"reusing the shared {server.served_name} server at {server.url} (started {_ago(time.time() - server.started_at)}"
                 f" ago, {others} other user(s); stops {_ago(float(entry.get('idle', DEFAULT_IDLE)))} after its last user)")
    return server


def _start(entry_dir: Path, launch: dict, progress: Progress, start) -> SharedServer:
    launch = {**launch, "idle": idle_seconds()}
    write_json(entry_dir / "launch.json", launch)
    lease = take_lease(entry_dir)  # before the supervisor runs, so it never sees an unused server
    supervisor = ManagedProcess("vLLM supervisor", [sys.executable, "-m", SUPERVISOR, str(entry_dir)],
                                entry_dir / "supervisor.log", detached=True)
    t0 = time.monotonic()
    try:
        asyncio.run(start(supervisor))
    except BaseException:
        supervisor.stop()
        lease.unlink(missing_ok=True)
        raise
    while (entry := read_json(entry_dir / "entry.json")) is None or entry.get("state") != "ready":
        if not supervisor.alive:
            lease.unlink(missing_ok=True)
            raise StackError(f"the supervisor of the shared {launch['served_name']} server exited; see {entry_dir / 'supervisor.log'}")
        time.sleep(0.1)
    progress(f"shared {launch['served_name']} server up at {entry['url']}; later processes reuse it "
             f"(stops {_ago(launch['idle'])} after its last user; {SHARED_ENV}=0 for a private one)")
    return _holding(entry_dir, entry, lease, reused=False, progress=progress, ready_seconds=time.monotonic() - t0)


async def share(server: "VLLMServer", cache_dir: Path, progress: Progress) -> "SharedServer | VLLMServer":
    """The shared equivalent of `await server.start(progress)`: reuse the machine's server with
    the same identity, or start `server`'s command under a supervisor and share it."""
    entry_dir = registry(cache_dir) / key_of(await asyncio.to_thread(server.identity))
    log = entry_dir / "vllm.log"
    launch = {"argv": server.argv, "env": server.env, "log": str(log), "port": server.port, "url": server.url,
              "served_name": server.served_name, "model": server.model}

    async def start(supervisor: ManagedProcess) -> None:
        server.launched_by(supervisor, log)
        await server.start(progress)

    try:
        return await acquire(entry_dir, launch, progress, start)
    except InUse as e:
        progress(f"{e}: starting a private server for this process")
        return await server.start(progress)


def entries(cache_dir: Path) -> list[tuple[Path, dict]]:
    """The registry's entries that have a record, oldest first."""
    found = [(d, e) for d in registry(cache_dir).glob("*") if d.is_dir() and (e := read_json(d / "entry.json"))]
    return sorted(found, key=lambda de: de[1].get("started_at", 0))
