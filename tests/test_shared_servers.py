"""The machine-wide registry of shared model servers (stack/shared.py, stack/supervisor.py),
written as the faults it must survive: stale entries, a port now answered by someone else,
concurrent starters, lease holders killed with SIGKILL, idleness, and the opt-out.

The registry, lock and lease logic runs against a tiny real HTTP server standing in for vLLM at
the process boundary (tests/_standin_server.py); the last test reuses a real vLLM across two
`concilium` processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from concilium.stack.process import free_port
from concilium.stack.shared import IDLE_ENV, SHARED_ENV, answers, read_json, start_time, stop_supervisor
from tests._standin_server import acquire_standin

STANDIN = Path(__file__).with_name("_standin_server.py")
ROOT = Path(__file__).resolve().parents[1]
NAME = "stand-in-model"


@pytest.fixture
def entry_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(IDLE_ENV, "600")
    d = tmp_path / "servers" / "k"
    yield d
    stop_supervisor(d, read_json(d / "entry.json"), grace=10)  # whatever a test left running


def gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if start_time(pid) is None:
            return True
        time.sleep(0.2)
    return False


def holder(entry_dir: Path, port: int, root: str, delay: float = 0.0, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(STANDIN), "acquire", str(entry_dir), str(port), NAME, root, str(delay)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def held(p: subprocess.Popen) -> dict:
    line = p.stdout.readline()
    assert line, f"the holder exited with {p.wait()}"
    return json.loads(line)


async def test_second_user_reuses_the_running_server_and_releasing_keeps_it_up(entry_dir, tmp_path):
    port = free_port()
    a = await acquire_standin(entry_dir, port, NAME, str(tmp_path))
    b = await acquire_standin(entry_dir, free_port(), NAME, str(tmp_path))
    entry = read_json(entry_dir / "entry.json")
    assert (a.reused, b.reused) == (False, True)
    assert a.url == b.url == f"http://127.0.0.1:{port}/v1"
    a.stop()
    b.stop()
    assert start_time(entry["server_pid"]) is not None, "the server must outlive its users for the idle time"


async def test_stale_entry_of_a_dead_supervisor_is_replaced(entry_dir, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    entry_dir.mkdir(parents=True)
    port = free_port()
    (entry_dir / "entry.json").write_text(json.dumps({
        "url": f"http://127.0.0.1:{port}/v1", "port": port, "served_name": NAME, "model": str(tmp_path),
        "supervisor_pid": dead.pid, "server_pid": dead.pid, "state": "ready", "started_at": time.time(), "idle": 600}))
    s = await acquire_standin(entry_dir, free_port(), NAME, str(tmp_path))
    assert not s.reused
    assert read_json(entry_dir / "entry.json")["supervisor_pid"] != dead.pid
    s.stop()


async def test_port_now_answered_by_another_server_is_not_reused(entry_dir, tmp_path):
    """An impostor on the recorded port answers /v1/models exactly like our server (same served
    name, same root): reusing it would put our model id on its answers. Only the socket's owner
    tells them apart."""
    ours = await acquire_standin(entry_dir, free_port(), NAME, str(tmp_path))
    first = read_json(entry_dir / "entry.json")
    impostor_port = free_port()
    impostor = subprocess.Popen([sys.executable, str(STANDIN), "serve", str(impostor_port), NAME, str(tmp_path)])
    try:
        url = f"http://127.0.0.1:{impostor_port}/v1"
        deadline = time.monotonic() + 20
        while not answers(url, NAME, str(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert answers(url, NAME, str(tmp_path))
        (entry_dir / "entry.json").write_text(json.dumps(first | {"port": impostor_port, "url": url}))
        notes = []
        again = await acquire_standin(entry_dir, free_port(), NAME, str(tmp_path), progress=notes.append)
        assert not again.reused and again.url != url
        assert any(f"port {impostor_port} is not held by its server process" in n for n in notes), notes
        assert gone(first["server_pid"], 20), "the replaced entry's server must be stopped"
        assert impostor.poll() is None, "a process that is not ours is never stopped"
        ours.stop()
        again.stop()
    finally:
        impostor.terminate()
        impostor.wait()


def test_two_concurrent_starters_get_one_server(entry_dir, tmp_path):
    port = free_port()
    first, second = (holder(entry_dir, port, str(tmp_path), delay=2.0), holder(entry_dir, free_port(), str(tmp_path), delay=2.0))
    try:
        got = [held(first), held(second)]
        assert got[0]["url"] == got[1]["url"]
        assert sorted(g["reused"] for g in got) == [False, True]
        assert (entry_dir / "supervisor.log").read_text().count("started ") == 1
    finally:
        for p in (first, second):
            p.stdin.close()
            p.wait(30)


def test_sigkilled_lease_holder_does_not_keep_the_server_alive(entry_dir, tmp_path):
    p = holder(entry_dir, free_port(), str(tmp_path), env={IDLE_ENV: "1"})
    held(p)
    entry = read_json(entry_dir / "entry.json")
    time.sleep(2.5)
    assert start_time(entry["server_pid"]) is not None, "stopped while its lease holder was alive"
    p.kill()
    p.wait()
    assert gone(entry["server_pid"], 20), "the supervisor kept the server for a dead lease holder"
    assert gone(entry["supervisor_pid"], 20)
    assert read_json(entry_dir / "entry.json") is None
    assert not list((entry_dir / "leases").iterdir())


async def test_supervisor_stops_the_server_after_idle_with_no_lease(entry_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(IDLE_ENV, "1")
    s = await acquire_standin(entry_dir, free_port(), NAME, str(tmp_path))
    entry = read_json(entry_dir / "entry.json")
    await asyncio.sleep(2.5)
    assert start_time(entry["server_pid"]) is not None, "stopped while a lease was held"
    s.stop()
    assert gone(entry["server_pid"], 20)
    assert "idle for 1 s with no live lease" in (entry_dir / "supervisor.log").read_text()
    again = await acquire_standin(entry_dir, free_port(), NAME, str(tmp_path))
    assert not again.reused, "a retired entry is started again, not reused"
    again.stop()


def test_sharing_opt_out(monkeypatch, tmp_path):
    from concilium.stack.embedded import EmbeddedStack

    monkeypatch.setenv(SHARED_ENV, "0")
    assert EmbeddedStack(tmp_path).shared is False
    monkeypatch.delenv(SHARED_ENV)
    assert EmbeddedStack(tmp_path).shared is True
    assert EmbeddedStack(tmp_path, shared=False).shared is False


def test_models_stop_stops_a_shared_server(entry_dir, tmp_path, monkeypatch):
    p = holder(entry_dir, free_port(), str(tmp_path))
    try:
        held(p)
        entry = read_json(entry_dir / "entry.json")
        cache = entry_dir.parent.parent
        out = subprocess.run([sys.executable, "-m", "concilium.cli", "models", "stop"], capture_output=True, text=True,
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "CONCILIUM_CACHE": str(cache)}, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "stopped stand-in-model" in out.stdout
        assert gone(entry["server_pid"], 20) and gone(entry["supervisor_pid"], 20)
    finally:
        p.stdin.close()
        p.wait(30)


async def test_later_concilium_processes_reuse_the_sessions_real_vllm_with_its_model_id(stack, vllm):
    """The session's vLLM is the machine's shared server: two `concilium` processes after it get
    it without starting a process, and the same model id as the session's own client. (A full
    private start, shared start and reuse in one run, with the model ids compared, is
    benchmarks/shared_server.py; it is not repeated here to keep `make test` from growing.)"""
    from concilium.llm.client import ModelClient
    from concilium.stack.shared import SharedServer, entries

    if not isinstance(vllm, SharedServer):
        pytest.skip("the session's vLLM is not the shared one (CONCILIUM_TEST_SHARED_VLLM=0 or CONCILIUM_TEST_VLLM_URL; see tests/conftest.py)")
    _, digest = await stack.model("bundled")
    before = read_json(vllm.entry_dir / "entry.json")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONCILIUM_CACHE": str(stack.cache_dir)}

    def up() -> tuple[dict, str]:
        out = subprocess.run([sys.executable, "-m", "concilium.cli", "models", "up", "--json"], capture_output=True,
                             text=True, cwd=ROOT, env=env, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout), out.stderr

    got = [await asyncio.to_thread(up) for _ in range(2)]
    ours = await ModelClient(vllm.url, vllm.served_name, weights_digest=digest, family="smollm2").model_id()
    for info, notes in got:
        assert info["reused"] and info["url"] == vllm.url and info["model_id"] == ours, (info, ours, vllm.url, notes[-1500:])
        assert "reusing the shared SmolLM2-135M-Instruct server" in notes and "starting vLLM" not in notes
    assert read_json(vllm.entry_dir / "entry.json") == before, "the server was restarted or replaced"
    assert [d for d, _ in entries(stack.cache_dir) if d == vllm.entry_dir] == [vllm.entry_dir]


def test_servers_are_shared_only_between_interchangeable_configurations(tmp_path, monkeypatch):
    """The key changes with anything that changes the answers (dtype, template content, vLLM's
    environment), and not with where a same-content template lies or which port is free."""
    import dataclasses

    from concilium.stack.cpu import cpu_settings
    from concilium.stack.shared import key_of
    from concilium.stack.vllm_server import VLLMServer

    a, b, c = (tmp_path / "a.jinja", tmp_path / "b.jinja", tmp_path / "c.jinja")
    a.write_text("{{ messages }}")
    b.write_text("{{ messages }}")
    c.write_text("{{ messages }} changed")
    settings = cpu_settings()

    def key(template: Path, **kw) -> str:
        s = VLLMServer("/models/m", "m", tmp_path, extra_args=["--chat-template", str(template)], settings=kw.get("settings", settings))
        return key_of(s.identity())

    assert key(a) == key(b)
    assert key(a) != key(c)
    assert key(a) != key(a, settings=dataclasses.replace(settings, dtype="float16"))
    before = key(a)
    # what imports set in any process (`import vllm`, `import sentence_transformers`): a test session
    # that imported one could otherwise never reuse the server it started before
    for name, value in (("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_root"), ("TORCHINDUCTOR_COMPILE_THREADS", "1"),
                        ("KMP_DUPLICATE_LIB_OK", "True"), ("KMP_INIT_AT_FORK", "FALSE")):
        monkeypatch.setenv(name, value)
    assert key(a) == before
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "all")
    assert key(a) != before


async def test_a_start_whose_starter_was_killed_is_waited_for_not_duplicated(entry_dir, tmp_path):
    p = holder(entry_dir, free_port(), str(tmp_path), delay=4.0)
    deadline = time.monotonic() + 30
    while (read_json(entry_dir / "entry.json") or {}).get("state") != "starting" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    p.kill()
    p.wait()
    notes = []
    s = await acquire_standin(entry_dir, free_port(), NAME, str(tmp_path), progress=notes.append)
    assert s.reused and any("still starting (its starter went away)" in n for n in notes), notes
    assert (entry_dir / "supervisor.log").read_text().count("started ") == 1
    s.stop()


async def test_a_server_that_fails_to_start_is_reported_with_its_log_and_not_recorded(entry_dir, tmp_path):
    from concilium.errors import StackError

    with pytest.raises(StackError) as e:
        await acquire_standin(entry_dir, free_port(), "fails-to-start", str(tmp_path / "gone"))
    assert f"no model at {tmp_path / 'gone'}" in str(e.value) and "exited with code 3" in str(e.value)
    assert read_json(entry_dir / "entry.json") is None
    assert not list((entry_dir / "leases").iterdir())


async def test_a_server_in_use_that_fails_a_check_is_left_running(entry_dir, tmp_path, monkeypatch):
    """A check that fails for a busy server (here /v1/models does not answer in time) must not let
    another process stop a server others hold leases on: it is refused (InUse) and left running;
    `share` then gives that process a private server. (The fresh-clone suite lost its session
    server this way.)"""
    from concilium.stack import shared

    s = await acquire_standin(entry_dir, free_port(), NAME, str(tmp_path))
    entry = read_json(entry_dir / "entry.json")
    monkeypatch.setattr(shared, "answers", lambda *a, **k: False)  # the check fails; the server is fine
    with pytest.raises(shared.InUse, match="1 other process"):
        await acquire_standin(entry_dir, free_port(), NAME, str(tmp_path))
    assert start_time(entry["server_pid"]) is not None and start_time(entry["supervisor_pid"]) is not None
    assert read_json(entry_dir / "entry.json") == entry  # still the machine's shared server
    s.stop()
