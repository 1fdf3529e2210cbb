"""Model access: vLLM's OpenAI-compatible API through langchain-openai.

`ModelClient.decide(messages, schema)` asks for JSON under a JSON schema (vLLM's guided
decoding, so the output always parses) and returns the raw text, the parsed object, the model
id and the timing (the server's service time, not the time queued for a slot: see
admission.py). The model id is the family's tag and a hash of what determines the answer:
family, weights digest (or served name), engine and version, and sampling parameters
(provenance.py); it is recorded with every decision.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI

from concilium.errors import ModelRefused, ModelUnavailable
from concilium.llm.admission import limit_for
from concilium.llm.provenance import derive_weights_digest, model_id_of, preimage
from concilium.llm.sanitize import KNOWN, neutralise_messages


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0
    seed: int = 0
    max_tokens: int = 200

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "seed": self.seed, "max_tokens": self.max_tokens}


@dataclass(frozen=True)
class ModelOutput:
    text: str
    value: dict[str, Any]
    model_id: str
    model_name: str
    sampling: dict[str, Any]
    seconds: float
    completion_tokens: int = 0
    prompt_tokens: int = 0
    preimage: dict[str, Any] = field(default_factory=dict)  # what model_id hashes (provenance.py)
    problem: str | None = None  # why `text` did not parse as a JSON object (then `value` is {})


@dataclass
class ModelClient:
    url: str
    name: str
    sampling: Sampling = field(default_factory=Sampling)
    timeout: float = 120.0
    weights_digest: str | None = None
    control_tokens: frozenset[str] = KNOWN  # made inert in every message (llm/sanitize.py)
    family: str | None = None  # the model family, e.g. "smollm2" (None: "unknown"); opens the model id
    _engine: str | None = None
    _derived: bool = False  # the weights digest was looked up (for servers we did not start)

    def __post_init__(self) -> None:
        self._probing = asyncio.Lock()  # one probe of the server, not one per concurrent first call
        self.chat = ChatOpenAI(
            base_url=self.url,
            api_key="EMPTY",
            model=self.name,
            temperature=self.sampling.temperature,
            seed=self.sampling.seed,
            max_tokens=self.sampling.max_tokens,
            timeout=self.timeout,
            max_retries=0,
        )

    async def engine(self) -> str:
        """'vllm <version>' from the server, cached; part of the model id."""
        if self._engine is None:
            try:
                async with httpx.AsyncClient(timeout=5) as c:
                    r = await c.get(self.url.rstrip("/").removesuffix("/v1") + "/version")
                    self._engine = f"vllm {r.json().get('version', '?')}" if r.status_code == 200 else "openai-compatible"
            except (httpx.HTTPError, ValueError):
                raise ModelUnavailable(f"model server at {self.url} is not reachable; start it or fix models.<name>.url") from None
        return self._engine

    async def preimage(self) -> dict[str, Any]:
        """What the model id hashes: weights digest (derived once if not given), engine, sampling.
        Concurrent first calls wait for one probe (32 agents starting together made 64 HTTP
        clients, each with its own TLS context: seconds of CPU the server needed)."""
        if self._engine is None or (self.weights_digest is None and not self._derived):
            async with self._probing:
                await self.engine()
                if self.weights_digest is None and not self._derived:
                    self.weights_digest = await derive_weights_digest(self.url, self.name)
                    self._derived = True
        return preimage(self.weights_digest, self.name, await self.engine(), self.sampling.as_dict(), self.family)

    async def model_id(self) -> str:
        return model_id_of(await self.preimage())

    async def decide(self, messages: list[BaseMessage], schema: dict[str, Any], schema_name: str = "decision") -> ModelOutput:
        response_format = {"type": "json_schema", "json_schema": {"name": schema_name, "schema": schema, "strict": True}}
        pre = await self.preimage()
        model_id = model_id_of(pre)
        try:
            async with limit_for(self.url, self.timeout).slot():  # queued here, not in the server
                start = time.perf_counter()
                msg = await self.chat.ainvoke(neutralise_messages(messages, self.control_tokens), response_format=response_format)
        except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError) as e:
            self._engine = None  # re-probe next time: the server may come back as a new version
            raise ModelUnavailable(f"model server at {self.url} did not answer ({type(e).__name__}); is vLLM running?") from None
        except openai.NotFoundError:
            raise ModelUnavailable(f"model {self.name!r} is not served at {self.url}; check models.<name>.name") from None
        except openai.BadRequestError as e:
            too_long = any(w in e.message.lower() for w in ("context length", "maximum context", "too long", "max_model_len"))
            raise ModelRefused(f"model server at {self.url} refused the request: {e.message[:300]}", too_long) from None
        seconds = time.perf_counter() - start
        text = msg.content if isinstance(msg.content, str) else json.dumps(msg.content)
        problem = None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            value, problem = {}, f"not valid JSON: {e.msg.removesuffix(' at')} at char {e.pos}"
        if not isinstance(value, dict) and problem is None:
            value, problem = {}, f"a JSON {type(value).__name__}, not an object"
        usage = msg.usage_metadata or {}
        return ModelOutput(text, value, model_id, self.name, self.sampling.as_dict(), seconds,
                           usage.get("output_tokens", 0), usage.get("input_tokens", 0), pre, problem)
