"""Model serving on this machine: time to ready and batching under the agent decision schema.
Prints JSON. For each variant of the server settings (default: the ones stack/cpu.py chooses
from this CPU's features, beside the alternatives named with --variants):

- time to ready, cold (empty vLLM cache dir) and warm (second start, same cache dir), as wall
  and CPU seconds, and when each start-up phase ended (from vLLM's log: imports in each process,
  weights, KV cache and warm-up, API);
- decisions per second at 1, 8 and 32 concurrent, the agent's real prompts and decision schema
  (benchmarks/scenarios/decisions.yaml), through the service path (ModelClient with its
  in-flight limit) and as raw HTTP requests to vLLM, measured raw, service, service, raw at each
  level; the ratios 32-concurrent / one-at-a-time for both (the service figure only means
  something next to raw vLLM's own), service / raw at each level, the client's CPU time per
  decision for both paths and the in-flight limit the service path had;
- free text at the same token count (no schema), one-at-a-time and 32 concurrent: what guided
  decoding costs.

    .venv/bin/python benchmarks/serving.py [--variants chosen,fp32,compiled,two_processes,...] [--no-cold]
    .venv/bin/python benchmarks/serving.py --url http://127.0.0.1:18000/v1   # decisions/s only, a running server

The machine may be shared: compare figures within one run, not across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _scenarios  # noqa: E402
from _report import emit  # noqa: E402

from concilium.errors import ConciliumError  # noqa: E402
from concilium.llm.admission import limit_for  # noqa: E402
from concilium.llm.client import ModelClient  # noqa: E402
from concilium.stack.cpu import ServingSettings, cpu_features, cpu_settings  # noqa: E402
from concilium.stack.bundled import bundled  # noqa: E402
from concilium.stack.embedded import bundled_serve_args, default_cache_dir  # noqa: E402
from concilium.stack.model import BUNDLED_NAME, prepare_bundled_model  # noqa: E402
from concilium.stack.vllm_server import VLLMServer  # noqa: E402

LEVELS = {1: 6, 8: 16, 32: 64}  # concurrency -> requests measured
VARIANTS = ("chosen", "fp32", "bf16", "compiled", "iomp", "all_cores", "three_processes", "two_processes", "one_process", "pinned", "unpinned")


def variant(name: str) -> ServingSettings:
    chosen = cpu_settings()
    return {
        "chosen": chosen,
        "fp32": dataclasses.replace(chosen, dtype="float32"),
        "bf16": dataclasses.replace(chosen, dtype="bfloat16"),
        "compiled": dataclasses.replace(chosen, eager=False),
        "iomp": cpu_settings(preload_iomp=True),
        "all_cores": dataclasses.replace(chosen, reserved_cpus=0),
        "three_processes": dataclasses.replace(chosen, processes=3),
        "two_processes": dataclasses.replace(chosen, processes=2),
        "one_process": dataclasses.replace(chosen, processes=1),
        "pinned": dataclasses.replace(chosen, pinned=True),
        "unpinned": dataclasses.replace(chosen, pinned=False),
    }[name]


def _role(m) -> str:
    return {"system": "system", "human": "user", "ai": "assistant"}[m.type]


class Workload:
    def __init__(self, scenarios: list) -> None:
        self.jobs = [(s.messages, s.schema.json_schema()) for s in scenarios if not s.skipped]

    def job(self, i: int):
        return self.jobs[i % len(self.jobs)]


async def raw_request(http: httpx.AsyncClient, url: str, messages, schema, max_tokens: int = 200) -> int:
    body = {"model": BUNDLED_NAME, "messages": [{"role": _role(m), "content": m.content} for m in messages],
            "temperature": 0, "seed": 0, "max_tokens": max_tokens}
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "decision", "schema": schema, "strict": True}}
    else:
        body["ignore_eos"] = True  # free text of exactly max_tokens tokens
    r = await http.post(f"{url}/chat/completions", json=body, timeout=600)
    r.raise_for_status()
    return r.json()["usage"]["completion_tokens"]


async def rate(concurrency: int, n: int, one) -> dict:
    """`n` requests, at most `concurrency` at once; decisions/s, completion tokens/s, and the CPU
    time this (client) process spent per decision."""
    sem = asyncio.Semaphore(concurrency)
    tokens: list[int] = []
    errors = 0

    async def run(i: int) -> None:
        nonlocal errors
        async with sem:
            try:
                tokens.append(await one(i))
            except (ConciliumError, httpx.HTTPError):
                errors += 1

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(run(i) for i in range(n)))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"n": len(tokens), "seconds": dt, "tokens": sum(tokens), "errors": errors, "client_cpu_s": cpu}


def summary(blocks: list[dict]) -> dict:
    n, dt, tok = (sum(b[k] for b in blocks) for k in ("n", "seconds", "tokens"))
    return {"per_s": round(n / dt, 3), "tokens_per_s": round(tok / dt, 1), "mean_tokens": round(tok / max(n, 1), 1),
            "errors": sum(b["errors"] for b in blocks),
            "client_cpu_ms_per_decision": round(1000 * sum(b["client_cpu_s"] for b in blocks) / max(n, 1), 1)}


async def abba(concurrency: int, n: int, paths: dict) -> dict:
    """Two paths measured A B B A at one concurrency, so that a neighbour's load drifting during
    the run falls on both alike (the machine is shared)."""
    (a, fa), (b, fb) = paths.items()
    blocks: dict[str, list[dict]] = {a: [], b: []}
    for name, fn in ((a, fa), (b, fb), (b, fb), (a, fa)):
        blocks[name].append(await rate(concurrency, n, fn))
    return {name: summary(bs) for name, bs in blocks.items()}


async def throughput(url: str, work: Workload) -> dict:
    client = ModelClient(url, BUNDLED_NAME, timeout=300)
    gate = limit_for(url, client.timeout)
    async with httpx.AsyncClient() as http:
        for messages, schema in {json.dumps(s): (m, s) for m, s in work.jobs}.values():  # grammar warm-up
            await raw_request(http, url, messages, schema)
        await client.decide(*work.job(0))  # the client's one-off probe of the server

        async def service(i: int) -> int:
            out = await client.decide(*work.job(i))
            return out.completion_tokens

        async def raw(i: int) -> int:
            return await raw_request(http, url, *work.job(i))

        out: dict = {"service": {}, "raw": {}, "service_over_raw": {}, "admission_limit": {}}
        for c, n in LEVELS.items():
            got = await abba(c, n, {"raw": raw, "service": service})
            for k in ("service", "raw"):
                out[k][str(c)] = got[k]
            out["service_over_raw"][str(c)] = round(got["service"]["per_s"] / max(got["raw"]["per_s"], 1e-9), 2)
            out["admission_limit"][str(c)] = gate.limit
        for k in ("service", "raw"):
            out[k]["ratio_32_to_1"] = round(out[k]["32"]["per_s"] / max(out[k]["1"]["per_s"], 1e-9), 2)
        n_tok = int(out["raw"]["1"]["mean_tokens"]) or 40

        async def free(i: int) -> int:
            return await raw_request(http, url, work.job(i)[0], None, n_tok)

        f1, f32 = summary([await rate(1, LEVELS[1], free)]), summary([await rate(32, LEVELS[32], free)])
        out["free_text_raw"] = {"1": f1, "32": f32, "ratio_32_to_1": round(f32["per_s"] / max(f1["per_s"], 1e-9), 2),
                                "tokens_each": n_tok}
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time the server's processes spent getting ready: on a shared machine the wall time
    mostly measures the neighbours, this does not."""
    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return round(total, 1)


async def measure(name: str, settings: ServingSettings, model_dir: Path, work: Workload, cold: bool, state: Path) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="vllm-cache-", dir=state))
    res: dict = {"settings": settings.describe()}
    log = lambda m: print(f"[{name}] {m}", file=sys.stderr)  # noqa: E731
    starts = ["cold", "warm"] if cold else ["warm"]
    if not cold:  # "warm" without a cold start here: the machine-wide cache of this setting
        cache = default_cache_dir() / "vllm"
    for which in starts:
        server = VLLMServer(str(model_dir), BUNDLED_NAME, state, extra_args=bundled_serve_args(bundled("bundled")), settings=settings, cache_root=cache)
        try:
            await server.start(log)
            res[f"ready_s_{which}"] = round(server.ready_seconds or 0, 1)
            res[f"ready_cpu_s_{which}"] = cpu_seconds(server.process.proc.pid)
            res[f"phases_s_{which}"] = server.phases()  # wall seconds from start to each phase (vLLM's log)
            if which == "warm":
                res["decisions"] = await throughput(server.url, work)
        except ConciliumError as e:
            res[f"error_{which}"] = str(e).splitlines()[0]
            break
        finally:
            server.stop()
    return res


async def attached(url: str) -> dict:
    """Decisions/s only, against a server of the bundled model that is already running."""
    f = cpu_features()
    load0 = os.getloadavg()[0]
    out = {"benchmark": "serving", "model": BUNDLED_NAME, "url": url, "concurrency_requests": LEVELS,
           "cpu": {"kind": f.kind, "native_bf16": f.native_bf16, "cores": f.cores},
           "decisions": await throughput(url.rstrip("/"), Workload(_scenarios.load()))}
    out["load_average_1min"] = [round(load0, 1), round(os.getloadavg()[0], 1)]
    return out


async def main(names: list[str], cold: bool) -> dict:
    state = Path(tempfile.mkdtemp(prefix="concilium-serving-"))
    t0 = time.perf_counter()
    model_dir = await asyncio.to_thread(prepare_bundled_model, default_cache_dir(), lambda m: print(m, file=sys.stderr))
    prep = time.perf_counter() - t0
    work = Workload(_scenarios.load())
    f = cpu_features()
    out: dict = {"benchmark": "serving", "model": BUNDLED_NAME, "cpu": {"kind": f.kind, "native_bf16": f.native_bf16, "cores": f.cores},
                 "model_preparation_s": round(prep, 1), "concurrency_requests": LEVELS, "variants": {}}
    for name in names:
        load0 = os.getloadavg()[0]
        out["variants"][name] = await measure(name, variant(name), model_dir, work, cold, state)
        out["variants"][name]["load_average_1min"] = [round(load0, 1), round(os.getloadavg()[0], 1)]
        print(json.dumps({name: out["variants"][name]}), file=sys.stderr)  # partial results as they come
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="chosen", help="comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument("--no-cold", action="store_true", help="skip the cold start (use the machine-wide cache)")
    ap.add_argument("--url", help="only decisions/s, against this running server of the bundled model (e.g. http://127.0.0.1:18000/v1)")
    a = ap.parse_args()
    if a.url:
        emit("serving", attached(a.url))
    unknown = [v for v in a.variants.split(",") if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    if not a.url:
        emit("serving", main(a.variants.split(","), not a.no_cold))
