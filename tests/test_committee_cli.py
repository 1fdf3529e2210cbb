"""Committee members as separate processes: `concilium committee deploy`, `status` and one
`concilium committee member` process (keystore key, the real model) beside three members run
through the `Committee` SDK, on the same anvil; bad input is one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest
from eth_account import Account

from concilium.committee.safe import SAFE_ABI
from concilium.committee.sdk import Committee
from concilium.llm.decisions import Decision
from concilium.spec import load_spec
from concilium.stack.model import BUNDLED_NAME
from concilium.stack.process import free_port
from tests.conftest import HOT, ROOT

pytestmark = pytest.mark.stack
ETH = 10**18
PASSWORD = "committee-test"


def concilium(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "concilium.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=180, env={**os.environ, "MEMBER_PASSWORD": PASSWORD}, **kw)


KEYS = {name: Account.create() for name in ("treasury", "m1", "m2", "m3", "m4")}


def committee_yaml(tmp_path, anvil_url: str, vllm_url: str) -> str:
    for name, account in KEYS.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(Account.encrypt(account.key, PASSWORD, kdf="pbkdf2", iterations=1000)))
    ports = [free_port() for _ in range(4)]
    wallets = "\n".join(f"  {n}: {{keystore: ./{n}.json, password_env: MEMBER_PASSWORD}}" for n in ("treasury", "m1", "m2", "m3", "m4"))
    members = "\n".join(f'      - {{name: m{i}, key: m{i}, model: local, url: "http://127.0.0.1:{p}"}}' for i, p in enumerate(ports, 1))
    return f"""
version: 1
models: {{local: {{url: "{vllm_url}", name: {BUNDLED_NAME}}}}}
chains: {{dev: {{rpc: "{anvil_url}", chain_id: 31337}}}}
wallets:
{wallets}
addresses:
  hot_wallet: "{HOT}"
agents:
  - name: keeper
    model: local
    chain: dev
    wallet: treasury
    instructions: Keep the hot wallet above 5 ETH; when it is below, send 1.5 ETH to hot_wallet. Otherwise do nothing.
    observe: [{{balance: hot_wallet}}]
    tools: [send_native]
    policy: {{recipients: [hot_wallet], max_value_per_tx: 2 ether, max_value_per_day: 10 ether}}
committees:
  - name: council
    agent: keeper
    members:
{members}
    threshold: 3
    safe: deploy
    schedule: 20s
    phase_timeout: 5s
    onchain_limits: {{ETH: {{per_day: 5}}}}
"""


async def test_deploy_status_and_a_member_process_beside_sdk_members(tmp_path, anvil, vllm, chain):
    f = tmp_path / "committee.yaml"
    f.write_text(committee_yaml(tmp_path, anvil.url, vllm.url))
    for account in KEYS.values():  # the deployer and the members pay gas
        await chain.w3.provider.make_request("anvil_setBalance", [account.address, hex(10 * ETH)])
    r = concilium("committee", "status", str(f))
    assert r.returncode != 0 and "run `concilium committee deploy` first" in r.stderr and "Traceback" not in r.stderr
    r = concilium("committee", "deploy", str(f))
    assert r.returncode == 0, r.stderr
    r = concilium("committee", "status", str(f), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["threshold"] == 3 and len(s["owners"]) == 4 and s["problems"] == [] and s["eth_remaining_today_wei"] == 5 * ETH
    r = concilium("committee", "member", str(f), "--member", "m9")
    assert r.returncode != 0 and "no member 'm9'" in r.stderr and "Traceback" not in r.stderr

    await chain.w3.provider.make_request("anvil_setBalance", [s["safe"], hex(50 * ETH)])
    await chain.w3.provider.make_request("anvil_setBalance", [HOT, hex(ETH)])
    proc = subprocess.Popen([sys.executable, "-m", "concilium.cli", "committee", "member", str(f), "--member", "m1"], cwd=ROOT,
                            env={**os.environ, "MEMBER_PASSWORD": PASSWORD}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.environ["MEMBER_PASSWORD"] = PASSWORD
    m1_url = load_spec(f).committee("council").member("m1").url
    try:
        async with httpx.AsyncClient() as http:  # the process is up and listening
            for _ in range(120):
                try:
                    if (await http.get(m1_url + "/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.5)
        top_up = Decision(action="send_native", args={"to": "hot_wallet", "amount": 1.5})
        async with Committee.open(load_spec(f), "council") as c:
            for name in ("m2", "m3", "m4"):
                await (await c.member(name, decisions=lambda rid: top_up)).start(tick=True)
            safe = chain.contract(s["safe"], SAFE_ABI)
            for _ in range(120):
                if await safe.functions.nonce().call() > s["nonce"]:
                    break
                await asyncio.sleep(0.5)
            assert await safe.functions.nonce().call() == s["nonce"] + 1, [(m.last and (m.last.state, m.last.reason)) for m in c._members]
            assert await chain.w3.eth.get_balance(HOT) == ETH + 3 * ETH // 2
            for _ in range(60):  # the process records its round as it ends
                if os.path.exists(tmp_path / ".concilium" / "committee-council-m1.db"):
                    rounds = (await c.status())["members"]["m1"]
                    if rounds and rounds[0]["state"] not in ("committing", "revealing", "signing", "submitting"):
                        break
                await asyncio.sleep(0.5)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        os.environ.pop("MEMBER_PASSWORD", None)
    assert "member m1" in out, err
    r = concilium("committee", "status", str(f), "--json")
    m1 = json.loads(r.stdout)["members"]["m1"]
    assert m1 and m1[0]["round_id"].startswith(f"n{s['nonce']}-") and m1[0]["state"] in ("executed", "disagreed", "refused")
    (mine,) = [v for v in m1[0]["votes"] if v["member"] == KEYS["m1"].address]
    assert mine["model_id"].startswith("0x")  # m1 decided with the real model in its own process
