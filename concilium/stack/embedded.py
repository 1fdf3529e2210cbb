"""The embedded stack: the anvil and vLLM processes concilium starts when the YAML says
`rpc: embedded` or `serve: ...`. Each is started once, on first use, and shared. vLLM servers
are shared machine-wide too (stack/shared.py): a later process reuses a running one with the
same identity instead of starting its own, unless `shared=False` or CONCILIUM_SHARED_SERVERS=0."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from concilium.stack.anvil import Anvil
from concilium.stack.bundled import BundledModel, bundled, canonical, is_bundled
from concilium.stack.model import prepare_bundled_model, prepared_model_dir, weights_digest
from concilium.stack.process import Progress
from concilium.stack.shared import SharedServer, share, sharing_enabled
from concilium.stack.vllm_server import VLLMServer


@dataclass
class ExternalServer:
    url: str
    served_name: str
    model: str | None = None  # its model dir when known (for the tokenizer's control tokens)

    def stop(self) -> None:  # not ours to stop
        pass


def bundled_serve_args(model: BundledModel) -> list[str]:
    """The entry's chat template (SmolLM2's own ignores `tools`, so it gets a ChatML template with
    a Hermes-style tools block; a base model gets a plain one) and Hermes tool parsing if it has it."""
    from importlib import resources

    args = []
    if model.chat_template:
        args += ["--chat-template", str(resources.files("concilium.llm").joinpath(f"templates/{model.chat_template}"))]
    if model.tool_calling:
        args += ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
    return args


def default_cache_dir() -> Path:
    return Path(os.environ.get("CONCILIUM_CACHE", Path.home() / ".cache" / "concilium"))


class EmbeddedStack:
    def __init__(self, state_dir: Path, cache_dir: Path | None = None, progress: Progress = lambda _: None,
                 shared: bool | None = None):
        self.state_dir = Path(state_dir)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.progress = progress
        self.shared = sharing_enabled() if shared is None else shared
        self._anvil: Anvil | None = None
        self._servers: dict[str, VLLMServer | SharedServer | ExternalServer] = {}
        self._digests: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def chain(self) -> Anvil:
        async with self._lock:
            if self._anvil is None:
                self._anvil = await Anvil(self.state_dir).start(self.progress)
            return self._anvil

    async def model(self, serve: str) -> tuple[VLLMServer | SharedServer | ExternalServer, str | None]:
        """A running server for `serve` ("bundled", "bundled:<key>", an HF model dir or a hub id),
        and the weights digest when we know it."""
        serve = canonical(serve)
        async with self._lock:
            if serve not in self._servers:
                if is_bundled(serve):
                    entry = bundled(serve)
                    path = await asyncio.to_thread(prepare_bundled_model, self.cache_dir, self.progress, entry)
                    self._digests[serve] = weights_digest(path)
                    server = VLLMServer(str(path), entry.served_name, self.state_dir, extra_args=bundled_serve_args(entry),
                                        cache_root=self.cache_dir / "vllm")
                else:
                    server = VLLMServer(serve, serve, self.state_dir, cache_root=self.cache_dir / "vllm")
                    if Path(serve).is_dir():
                        self._digests[serve] = await asyncio.to_thread(weights_digest, Path(serve))
                if self.shared:
                    self._servers[serve] = await share(server, self.cache_dir, self.progress)
                else:
                    self._servers[serve] = await server.start(self.progress)
            return self._servers[serve], self._digests.get(serve)

    def attach(self, serve: str, url: str, served_name: str, digest: str | None = None) -> None:
        """Use an already running server for `serve` instead of starting one."""
        serve = canonical(serve)
        model = str(prepared_model_dir(self.cache_dir, bundled(serve))) if is_bundled(serve) else serve
        self._servers[serve] = ExternalServer(url, served_name, model)
        if digest:
            self._digests[serve] = digest

    def stop(self) -> None:
        for s in self._servers.values():
            s.stop()
        self._servers.clear()
        if self._anvil is not None:
            self._anvil.stop()
            self._anvil = None
