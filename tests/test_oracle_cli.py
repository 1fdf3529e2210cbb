"""The operator's commands: `concilium validate node.yaml`, `concilium oracle node init`, and
(on a bare anvil) deploy / nodes / status / ask."""

import json
import subprocess
import sys

from tests.conftest import ROOT

NODE_YAML = """\
version: 1
oracle: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
chain: {rpc: ["http://127.0.0.1:8545"], chain_id: 31337}
model: {url: "http://127.0.0.1:18000/v1", name: SmolLM2-135M-Instruct}
wallet: {keystore: ./keys/node.json, password_env: NODE_PASSWORD}
listen: {host: 0.0.0.0, port: 8701}
peers: ["http://10.0.0.2:8700", "http://10.0.0.3:8700"]
"""


def concilium(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "concilium.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=env)


def test_validate_recognises_a_node_yaml(tmp_path):
    f = tmp_path / "node.yaml"
    f.write_text(NODE_YAML)
    r = concilium("validate", str(f))
    assert r.returncode == 0, r.stderr
    assert "oracle node for 0x5FbDB2315678afecb367f032d93F642f64180aa3" in r.stdout and "2 peer(s)" in r.stdout


def test_validate_reports_node_yaml_errors_by_path_and_line(tmp_path):
    f = tmp_path / "node.yaml"
    f.write_text(NODE_YAML.replace("port: 8701", "port: 99999").replace("keystore: ./keys/node.json, ", ""))
    r = concilium("validate", str(f))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "listen.port (line 6)" in r.stderr and "wallet" in r.stderr
    assert "unknown" not in r.stderr  # the node keys are known keys, not an agents file's
