"""Hostile inputs at the edges, written as the attack: alias bombs and oversized or non-UTF-8
YAML, addresses with a forged checksum, oversized HTTP bodies, bad store URLs, and a model
output that is not JSON. Each is refused with one clear line, quickly, and sends nothing."""

import re
import subprocess
import sys
import time

import httpx
import pytest
from fastapi import FastAPI, Request

from concilium.db import parse_store_url
from concilium.errors import SpecError, StoreError
from concilium.httpserver import MAX_BODY, HttpServer
from concilium.runtime import Runtime
from concilium.spec import load_spec
from concilium.stack.process import free_port
from tests.conftest import COLD, ROOT, deploy_token, keeper_yaml, spec_from
from tests.faults import CorruptingModelProxy


def concilium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "concilium.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "version: 1\n" + "\n".join(lines) + f"\nagents: *a{levels}\n"


def test_billion_laughs_is_refused_in_well_under_a_second():
    start = time.perf_counter()
    with pytest.raises(SpecError, match="aliases expand to more than"):
        spec_from(billion_laughs())
    assert time.perf_counter() - start < 0.5


def test_billion_laughs_through_the_cli_is_one_line(tmp_path):
    f = tmp_path / "lol.yaml"
    f.write_text(billion_laughs())
    r = concilium("validate", str(f))
    assert r.returncode == 2 and "alias bomb" in r.stderr and "Traceback" not in r.stderr


def test_a_modest_alias_is_still_fine():
    text = keeper_yaml().replace("max_value_per_tx: 2 ether", "max_value_per_tx: &tx 2 ether").replace(
        "max_value_per_day: 10 ether", "max_value_per_day: *tx")
    assert spec_from(text).agents[0].policy.max_value_per_day == 2 * 10**18


@pytest.mark.parametrize("doc, expected", [
    ("version: 1\nx: &x [*x]\n", "refers to itself"),
    ("version: 1\nx: " + "[" * 100 + "]" * 100 + "\n", "nested more than 64 levels deep"),
    ("version: 1\nx: " + "[" * 200_000 + "]" * 200_000 + "\n", "nested more than 64 levels deep"),
])
def test_recursive_and_deeply_nested_documents_are_refused_quickly(doc, expected):
    start = time.perf_counter()
    with pytest.raises(SpecError, match=expected):
        spec_from(doc)
    assert time.perf_counter() - start < 0.5


def test_oversized_file_is_refused_before_parsing(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("version: 1\n" + "# padding\n" * 200_000)
    with pytest.raises(SpecError, match="larger than 1024 KiB"):
        load_spec(f)


def test_non_utf8_bytes_name_the_byte_offset(tmp_path):
    good = keeper_yaml().encode()
    offset = good.index(b"Keep the hot wallet")
    f = tmp_path / "latin1.yaml"
    f.write_bytes(good[:offset] + b"\xe9" + good[offset:])
    r = concilium("validate", str(f))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"byte offset {offset} (0xe9) is not UTF-8" in r.stderr


def test_mixed_case_address_with_a_wrong_checksum_is_refused():
    forged = COLD[:-1] + ("B" if COLD[-1] != "B" else "b")  # one letter's case flipped: checksum broken
    with pytest.raises(SpecError, match="EIP-55 checksum is wrong"):
        spec_from(keeper_yaml().replace(COLD, forged))
    for accepted in (COLD, COLD.lower(), "0x" + COLD[2:].upper()):
        assert spec_from(keeper_yaml().replace(COLD, accepted)).addresses["cold_storage"] == accepted


async def test_http_bodies_past_the_limit_get_413_with_or_without_content_length():
    app, seen = FastAPI(), []

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        seen.append(len(await request.body()))
        return {"n": seen[-1]}

    server = await HttpServer(app, "127.0.0.1", free_port(), "test").start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            assert (await http.post("/echo", content=b"x" * 1000)).json() == {"n": 1000}
            big = b"x" * (MAX_BODY + 1)
            r = await http.post("/echo", content=big)
            assert r.status_code == 413 and "larger than" in r.json()["detail"]

            async def chunks():  # no Content-Length: chunked, the limit still holds
                for _ in range(40):
                    yield b"y" * 65536

            assert (await http.post("/echo", content=chunks())).status_code == 413
        assert seen == [1000]  # the app never saw an oversized body
    finally:
        await server.stop()


@pytest.mark.parametrize("url, expected", [
    ("postgresql://bob:hunter2@127.0.0.1/x", "write postgresql+asyncpg://bob:***@127.0.0.1/x"),
    ("mysql+aiomysql://h/db", "not supported"),
    ("not a url", "is not a database URL"),
])
def test_store_urls_we_cannot_use_are_named_with_the_fix(url, expected):
    with pytest.raises(StoreError, match=re.escape(expected)) as e:
        parse_store_url(url)
    assert "hunter2" not in str(e.value)


@pytest.mark.parametrize("url, expected", [
    ("sqlite:///state.db", "needs the async driver: write sqlite+aiosqlite:///state.db"),
    ("postgresql+asyncpg://bob:hunter2@127.0.0.1:9/x", "cannot read decisions at postgresql+asyncpg://bob:***@127.0.0.1:9/x"),
])
def test_audit_export_with_a_wrong_or_sync_store_url_is_one_line(url, expected):
    r = concilium("audit", "export", "--store-url", url)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert expected in r.stderr and "hunter2" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


async def test_model_output_that_is_not_json_is_recorded_with_that_reason(stack, vllm, chain, tmp_path):
    proxy = await CorruptingModelProxy(vllm.url).up()
    try:
        text = keeper_yaml(await deploy_token(chain)).replace(
            "local: {serve: bundled}", f'local: {{url: "{proxy.url}", name: SmolLM2-135M-Instruct}}')
        async with Runtime.open(spec_from(text), stack=stack, state_dir=tmp_path) as rt:
            keeper = rt.agents["treasury-keeper"]
            r = await keeper.step()
            assert r.status == "error" and "\x00" in r.output
            assert r.error.startswith("model output is not valid JSON: Invalid control character at char"), r.error
            assert "{} is not valid" not in r.error and r.tx_hash is None
    finally:
        await proxy.down()
