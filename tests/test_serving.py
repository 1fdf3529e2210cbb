"""Serving: settings chosen from the CPU's features, the in-flight limit in front of a model
server, and decisions whose reasons are codes the tools declare."""

import asyncio
import time

import pytest

from concilium.llm.admission import InFlightLimit, limit_for
from concilium.llm.client import ModelClient
from concilium.llm.decisions import DecisionSchema, InvalidDecision, bounded_number, enum
from concilium.stack.cpu import CpuFeatures, cpu_settings, parse_cpuinfo
from concilium.stack.model import BUNDLED_NAME
from concilium.stack.vllm_server import VLLMServer

EPYC_AVX2 = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma bmi2\n"
XEON_AMX = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile\n"


def test_bf16_only_where_the_cpu_has_native_bf16():
    avx2 = cpu_settings(CpuFeatures(parse_cpuinfo(EPYC_AVX2), 2))
    amx = cpu_settings(CpuFeatures(parse_cpuinfo(XEON_AMX), 2))
    assert avx2.dtype == "float32"  # bf16 falls back to plain torch matmuls there: no batching
    assert amx.dtype == "bfloat16"
    assert avx2.eager and amx.eager  # compiling costs minutes per start on CPU for no speed


def test_server_command_carries_the_chosen_settings(tmp_path):
    s = VLLMServer("/models/x", "x", tmp_path, settings=cpu_settings(CpuFeatures(parse_cpuinfo(EPYC_AVX2), 2)))
    argv = s.process.argv
    assert argv[argv.index("--dtype") + 1] == "float32"
    assert "--enforce-eager" in argv


async def test_in_flight_limit_never_admits_more_than_its_limit():
    limit = InFlightLimit(target_seconds=60, initial=3, ceiling=3)
    peak = 0

    async def request():
        nonlocal peak
        async with limit.slot():
            peak = max(peak, limit.in_flight)
            await asyncio.sleep(0.02)

    await asyncio.gather(*(request() for _ in range(20)))
    assert peak == 3 and limit.in_flight == 0


async def test_in_flight_limit_shrinks_when_the_server_is_slower_than_the_target():
    limit = InFlightLimit(target_seconds=0.2, initial=8)

    async def request():
        async with limit.slot():
            await asyncio.sleep(0.3)

    await asyncio.gather(*(request() for _ in range(8)))
    assert limit.limit < 8  # 8 in 0.3 s is ~27/s: ~5 finish within 0.2 s
    assert limit.throughput is not None


async def test_in_flight_limit_counts_a_burst_by_what_shared_the_server():
    """32 requests admitted together and served together in ~0.5 s is ~64/s. The first one
    admitted saw nobody else in flight; counting only that made a burst look 30x slower, and the
    limit shrank exactly when agents stepped together (here the first admitted finish last)."""
    limit = InFlightLimit(target_seconds=0.25, initial=32)

    async def request(i: int):
        async with limit.slot():
            await asyncio.sleep(0.5 - i * 0.005)

    await asyncio.gather(*(request(i) for i in range(32)))
    assert limit.throughput is not None and limit.throughput > 40
    assert limit.limit >= 10


async def test_a_failed_request_frees_its_slot():
    limit = InFlightLimit(target_seconds=10, initial=1, ceiling=1)
    with pytest.raises(RuntimeError):
        async with limit.slot():
            raise RuntimeError("server gone")
    async with asyncio.timeout(1):
        async with limit.slot():
            pass


async def test_queued_requests_do_not_time_out_when_each_is_served_in_time(vllm):
    """Many agents on a slow server: the client's timeout covers one request's service time,
    not the time spent queued behind the others (the failure was every step timing out)."""
    schema = DecisionSchema({"noop": None}).json_schema()
    messages = [("user", "Decide.")]
    probe = ModelClient(vllm.url, BUNDLED_NAME)
    await probe.decide(messages, schema)  # a fresh server compiles the schema's grammar first: not one request's time
    one = max([(await probe.decide(messages, schema)).seconds for _ in range(2)])
    client = ModelClient(vllm.url, BUNDLED_NAME, timeout=max(4 * one, 2.0))  # 4x headroom for a neighbour's load spike
    gate = limit_for(client.url, client.timeout)
    saved = gate.ceiling, gate.limit
    gate.ceiling = gate.limit = 1  # a server that takes one request at a time
    t0 = time.perf_counter()
    try:
        outs = await asyncio.gather(*(client.decide(messages, schema) for _ in range(8)))
    finally:
        gate.ceiling, gate.limit = saved  # the limit is shared with every client of this server
    assert all(o.value.get("action") == "noop" for o in outs)
    assert time.perf_counter() - t0 > client.timeout  # the queue took longer than any one timeout


async def test_concurrent_first_calls_probe_the_server_once(vllm, monkeypatch):
    """32 agents starting together on a fresh client: one engine probe and one digest lookup,
    not 32 of each (each made its own HTTP client: seconds of CPU taken from the server)."""
    from concilium.llm import client as client_module

    calls = 0
    real = client_module.derive_weights_digest

    async def counted(url, name):
        nonlocal calls
        calls += 1
        return await real(url, name)

    monkeypatch.setattr(client_module, "derive_weights_digest", counted)
    client = ModelClient(vllm.url, BUNDLED_NAME)
    ids = await asyncio.gather(*(client.model_id() for _ in range(32)))
    assert calls == 1 and len(set(ids)) == 1


def keeper_schema(layout="reason_first") -> DecisionSchema:
    return DecisionSchema({"noop": None, "send_native": {
        "type": "object", "additionalProperties": False, "required": ["to", "amount"],
        "properties": {"to": enum(["hot_wallet"], "who"), "amount": bounded_number(2, "ETH")}}}, layout=layout)


def test_reason_is_a_code_the_action_declares_plus_a_note():
    s = keeper_schema()
    d = s.parse({"reason": "below_target", "note": "hot wallet at 1 ETH", "action": "send_native",
                 "args": {"to": "hot_wallet", "amount": 1.5}})
    assert d.reason_code == "below_target" and d.reason == "below_target: hot wallet at 1 ETH"
    with pytest.raises(InvalidDecision):  # a noop code does not justify a send
        s.parse({"reason": "target_met", "note": "", "action": "send_native", "args": {"to": "hot_wallet", "amount": 1}})
    with pytest.raises(InvalidDecision):  # notes are short
        s.parse({"reason": "target_met", "note": "x" * 61, "action": "noop"})


def test_every_layout_asks_for_what_it_parses():
    for layout in ("reason_first", "action_first", "free_text"):
        schema = keeper_schema(layout).json_schema()
        first = list(schema["anyOf"][0]["properties"])[0]
        assert first == ("reason" if layout == "reason_first" else "action")


async def test_bundled_model_decides_with_a_declared_reason_code(vllm):
    s = keeper_schema()
    client = ModelClient(vllm.url, BUNDLED_NAME)
    out = await client.decide([("system", "Keep hot_wallet above 5 ETH.\n" + "\n".join(s.menu())),
                               ("user", '{"balance of hot_wallet": "1 ETH"}')], s.json_schema())
    d = s.parse(out.value)
    assert d.reason_code in s.codes(d.action)


async def test_bundled_model_is_the_trained_model_not_random_weights(vllm):
    """The prepared weights once were the random init (the GGUF tensors were never loaded):
    every reason read like ' Maur Maur Maur'. A trained model knows this much."""
    client = ModelClient(vllm.url, BUNDLED_NAME)
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}
    out = await client.decide([("user", "What is the capital of France? Answer in JSON.")], schema)
    assert "paris" in out.value["city"].lower()


def test_start_up_phases_come_from_vllms_log():
    from datetime import datetime

    from concilium.stack.vllm_server import next_phase, startup_phases

    log = "\n".join([
        "(APIServer pid=1) INFO 11-26 11:46:53 [model.py:733] Resolved architecture: LlamaForCausalLM",
        "(EngineCore pid=2) INFO 11-26 11:47:11 [core.py:133] Initializing a V1 LLM engine",
        "(Worker pid=3) INFO 11-26 11:47:36 [cpu_model_runner.py:68] Starting to load model /m...",
    ])
    done = startup_phases(log, datetime(2026, 11, 26, 11, 46, 35, 400000))
    assert done == {"api_imported": 18.0, "engine_process_up": 36.0, "model_loading": 61.0}
    assert next_phase(done) == "loading the weights"
    assert next_phase({}).startswith("importing torch and vLLM")
