"""The README walk-through, followed to the letter with the commands it shows: from a bare
anvil with its own chain id to four keystore nodes answering (each `concilium oracle node run`
its own process), then status and a registry change through the timelock."""

import asyncio
import os
import re
import subprocess
import sys

import httpx

from concilium.stack.model import BUNDLED_NAME
from concilium.stack.process import free_port
from concilium.stack.tools import foundry_binary
from tests.conftest import ROOT


def concilium(*args: str, env: dict, cwd) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "concilium.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert r.returncode == 0, f"concilium {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr
    return r


async def test_readme_walkthrough_bare_anvil_to_four_keystore_nodes(vllm, tmp_path):
    port = free_port()
    rpc = f"http://127.0.0.1:{port}"
    anvil = subprocess.Popen([str(foundry_binary("anvil")), "--chain-id", "4242", "--port", str(port), "--silent"])
    env = {**os.environ, "NODE_PASSWORD": "correct horse", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen] = []
    try:
        ports = [free_port() for _ in range(4)]
        # 1. each operator: a key and a node.yaml
        addrs = []
        for i in range(4):
            peers = [a for j, p in enumerate(ports) if j != i for a in ("--peer", f"http://127.0.0.1:{p}")]
            r = await asyncio.to_thread(concilium, "oracle", "node", "init", f"node{i}", "--rpc", rpc, "--chain-id", "4242",
                                        "--port", str(ports[i]), *peers, "--model-url", vllm.url, "--model-name", BUNDLED_NAME,
                                        env=env, cwd=tmp_path)
            addrs.append(re.search(r"node (0x[0-9a-fA-F]{40})", r.stdout).group(1))
            assert "PRIVATE" not in r.stdout.upper() and "correct horse" not in r.stdout + r.stderr
        # 2. the owner deploys with the four addresses, no timelock on this test chain, and funds the nodes
        r = await asyncio.to_thread(concilium, "oracle", "deploy", "--rpc", rpc, "--dev-account", "0", *[x for a in addrs for x in ("--node", a)],
                                    "--delay", "0", "--min-timeout", "10s", "--fund", "1 ether", env=env, cwd=tmp_path)
        oracle = re.search(r"AgentOracle (0x[0-9a-fA-F]{40}) on chain 4242", r.stdout).group(1)
        r = await asyncio.to_thread(concilium, "oracle", "status", env=env, cwd=tmp_path)
        assert "epoch 1: 4 node(s), tolerates f=1, quorum 3" in r.stdout and "pending requests: 0" in r.stdout
        # 3. each operator runs its node
        node_env = {**env, "CONCILIUM_ORACLE": oracle}
        for i in range(4):
            procs.append(subprocess.Popen([sys.executable, "-m", "concilium.cli", "oracle", "node", "run", f"node{i}/node.yaml"],
                                          cwd=tmp_path, env=node_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        async with httpx.AsyncClient() as http:
            for p in ports:
                for _ in range(600):
                    try:
                        if (await http.get(f"http://127.0.0.1:{p}/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert all(x.poll() is None for x in procs), [x.stderr.read()[-2000:] for x in procs if x.poll() is not None]
                    await asyncio.sleep(0.1)
        # 4. anyone asks
        r = await asyncio.to_thread(concilium, "oracle", "ask", "Is 7 a prime number?", "--kind", "bool", "--dev-account", "2",
                                    "--request-timeout", "5m", "--network", "network.json", env=env, cwd=tmp_path)
        # a quorum of 3 at least; every node whose committed answer is in by the fulfil is included
        assert "answer: " in r.stdout and re.search(r"signed by [34] node\(s\)", r.stdout), r.stdout
        signers = re.search(r"signed by [34] node\(s\): (.*)", r.stdout).group(1).split(", ")
        assert set(signers) <= set(addrs) and len(signers) >= 3
        r = await asyncio.to_thread(concilium, "oracle", "status", env=env, cwd=tmp_path)
        for s in signers:
            assert f"node {s}: last round #1 fulfilled" in r.stdout
        # 5. the owner retires a node through the timelock (delay 0: applied at once)
        r = await asyncio.to_thread(concilium, "oracle", "nodes", "remove", addrs[3], "--dev-account", "0", env=env, cwd=tmp_path)
        assert "registry now 3 node(s)" in r.stdout
        r = await asyncio.to_thread(concilium, "oracle", "status", env=env, cwd=tmp_path)
        assert "epoch 2: 3 node(s), tolerates f=0, quorum 2" in r.stdout
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        anvil.terminate()
        anvil.wait(timeout=10)
