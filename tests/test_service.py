"""The agent service on the real stack: schedules, triggers, API, metrics, reload, restarts."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from eth_account import Account

from concilium.agents.records import StateStore
from concilium.chain.abi import ERC20_ABI
from concilium.chain.wallets import dev_wallet
from concilium.service.service import AgentService
from tests.conftest import COLD, HOT, ROOT, deploy_token, set_balance
from tests.faults import SwitchableProxy

TOKEN = "test-token-not-a-secret"


def agent(name: str, schedule: str, wallet: str = "treasury", memory: int = 0) -> str:
    return textwrap.indent(textwrap.dedent(f"""
    - name: {name}
      model: local
      chain: dev
      wallet: {wallet}
      instructions: Keep hot_wallet above 5 ETH; send 0.01 ETH to it when it is below.
      schedule: {schedule}
      observe: [{{balance: hot_wallet}}]
      tools: [send_native]
      memory: {{recall: {memory}}}
      policy: {{recipients: [hot_wallet], max_value_per_tx: 0.02 ether, max_value_per_day: 100 ether}}
    """), "  ")


def service_yaml(token: str, agents: str, model: str = "{serve: bundled}", chain: str = "{rpc: embedded}",
                 wallets: str = "{treasury: {dev_account: 0}, hot: {dev_account: 1}}", api: str = "{port: 0}") -> str:
    return textwrap.dedent(f"""
    version: 1
    models:
      local: {model}
    chains:
      dev: {chain}
    wallets: {wallets}
    addresses:
      hot_wallet: "{HOT}"
    contracts:
      usdc: {{address: "{token}", abi: erc20}}
    api: {api}
    agents:
    """) + agents


async def follow_step(http: httpx.AsyncClient, started: httpx.Response, timeout: float = 120) -> dict:
    """What a client does with a 202: poll the step's Location until its status is final."""
    url = started.headers["Location"]
    assert url == started.json()["url"]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = await http.get(url)
        assert r.status_code in (200, 202), r.text
        if r.status_code == 200:
            return r.json()
        await asyncio.sleep(0.2)
    raise AssertionError("step did not finish in time")


@pytest.fixture
def api_token(monkeypatch):
    monkeypatch.setenv("CONCILIUM_API_TOKEN", TOKEN)
    return TOKEN


async def wait_for(predicate, timeout: float = 60.0, every: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := await predicate():
            return value
        await asyncio.sleep(every)
    raise AssertionError("condition not met in time")


async def test_three_agents_on_different_schedules_step_concurrently(stack, vllm, chain, tmp_path, store_url, api_token):
    token = await deploy_token(chain)
    await set_balance(chain, HOT, 10**18)
    agents = (agent("ticker", "{every: 1s}") + agent("blocks", "{on_block: 1}")
              + agent("cron", '{cron: "*/5 * * * *"}') + agent("listener", "{on_event: {contract: usdc, event: Transfer, where: {to: hot_wallet}}}"))
    f = tmp_path / "agents.yaml"
    f.write_text(service_yaml(token, agents))
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, store_url=store_url) as svc:
        store = svc.runtime.store
        usdc = chain.contract(token, ERC20_ABI)

        async def stepped(name):
            return [r for r in await store.recent(name) if r.status not in ("planned",)]

        async def mine_then_check_blocks():
            await chain.w3.provider.make_request("evm_mine", [])  # new blocks, whatever the ticker decides
            return await stepped("blocks")

        await wait_for(lambda: stepped("ticker"))
        await wait_for(mine_then_check_blocks, every=0.5)
        assert await stepped("listener") == []
        await chain.transact(dev_wallet(0), {"to": token, "data": usdc.encode_abi("transfer", args=[COLD, 5])})
        await asyncio.sleep(2)
        assert await stepped("listener") == []  # a Transfer to someone else does not fire
        await chain.transact(dev_wallet(0), {"to": token, "data": usdc.encode_abi("transfer", args=[HOT, 5])})
        await wait_for(lambda: stepped("listener"))
        cron = next(s for s in svc.snapshot() if s["name"] == "cron")
        assert cron["schedule"] == "cron */5 * * * *" and 0 < cron["next_run_at"] - time.time() <= 300
        # every schedule kind fired for its own agent (ticker, blocks and listener each stepped above);
        # cross-agent overlap in time is not asserted: with the real weights a noop step is short enough
        # that three schedules rarely coincide (benchmarks/service_throughput.py measures concurrency)
        # a running agent never overlaps itself
        for name in ("ticker", "blocks"):
            mine = sorted(await stepped(name), key=lambda r: r.created_at)
            assert all(x.updated_at <= y.started_at + 0.05 for x, y in zip(mine, mine[1:]))


async def test_api_pause_resume_needs_the_token(stack, vllm, chain, tmp_path, store_url, api_token):
    f = tmp_path / "agents.yaml"
    f.write_text(service_yaml(await deploy_token(chain), agent("ticker", "{every: 1s}")))
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, store_url=store_url) as svc:
        async with httpx.AsyncClient(base_url=svc.api_server.url, timeout=60) as http:
            assert (await http.get("/health")).json()["ok"] is True
            assert (await http.post("/agents/ticker/pause")).status_code == 401
            assert (await http.post("/agents/ticker/pause", headers={"Authorization": "Bearer wrong"})).status_code == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            r = await http.post("/agents/ticker/pause", headers=auth)
            assert r.status_code == 200 and r.json()["paused"] is True
            await wait_for(lambda: asyncio.sleep(0, not svc.status["ticker"].running))  # a step already running finishes
            before = svc.status["ticker"].steps
            await asyncio.sleep(3)
            assert svc.status["ticker"].steps == before  # paused: the schedule does not step it
            stepped = await http.post("/agents/ticker/step", headers=auth)  # an explicit step still runs
            assert stepped.status_code == 202 and stepped.json()["agent"] == "ticker"
            followed = await follow_step(http, stepped)
            assert followed["id"] == stepped.json()["id"] and followed["status"] not in ("running", "planned", "signed", "sent")
            assert (await http.post("/agents/ticker/resume", headers=auth)).json()["paused"] is False
            await wait_for(lambda: asyncio.sleep(0, svc.status["ticker"].steps > before + 1))
            decisions = (await http.get("/agents/ticker/decisions?limit=5")).json()
            assert decisions and {"model_id", "inputs_hash", "status"} <= set(decisions[0])
            assert "raw_tx" not in decisions[0]
            assert (await http.get("/agents/nobody")).status_code == 404
            metrics = (await http.get("/metrics")).text
            assert 'concilium_steps_total{agent="ticker"' in metrics and "concilium_model_latency_seconds" in metrics


async def test_model_server_down_then_back_without_restarting_the_service(stack, vllm, chain, tmp_path, store_url, api_token):
    target = urlparse(vllm.url)
    proxy = await SwitchableProxy(target.hostname, target.port).up()
    model = f'{{url: "http://127.0.0.1:{proxy.port}/v1", name: SmolLM2-135M-Instruct}}'
    f = tmp_path / "agents.yaml"
    f.write_text(service_yaml(await deploy_token(chain), agent("ticker", "{every: 1s}"), model=model))
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, store_url=store_url) as svc:
        st = svc.status["ticker"]
        await wait_for(lambda: asyncio.sleep(0, st.steps >= 1))
        await proxy.down()
        await wait_for(lambda: asyncio.sleep(0, st.last_status == "error" and "did not answer" in (st.last_error or "")), timeout=60)
        failures = st.failures
        assert await svc.runtime.store.pending("ticker") == []  # nothing half-sent
        await proxy.up()
        await wait_for(lambda: asyncio.sleep(0, st.last_status not in ("error", None) and st.steps > failures + 1), timeout=60)
    await proxy.down()


async def test_a_malformed_reload_is_refused_and_agents_keep_running(stack, vllm, chain, tmp_path, store_url, api_token):
    f = tmp_path / "agents.yaml"
    good = service_yaml(await deploy_token(chain), agent("ticker", "{every: 1s}"))
    f.write_text(good)
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, store_url=store_url) as svc:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=svc.api_server.url, timeout=60) as http:
            f.write_text(good.replace("max_value_per_tx: 0.02 ether", "max_value_per_tx: lots"))
            r = await http.post("/reload", headers=auth)
            assert r.status_code == 422
            assert any("max_value_per_tx" in p for p in r.json()["detail"]["problems"])
            f.write_text(good.replace("dev: {rpc: embedded}", "dev: {rpc: embedded}\n  other: {rpc: embedded}").replace("chain: dev", "chain: other"))
            assert (await http.post("/reload", headers=auth)).status_code == 422  # a new chain needs a restart
            steps = svc.status["ticker"].steps
            await wait_for(lambda: asyncio.sleep(0, svc.status["ticker"].steps > steps + 1))
            f.write_text(good + agent("second", "{every: 1s}"))
            r = await http.post("/reload", headers=auth)
            assert r.status_code == 200 and r.json()["changes"] == ["added second"]
            await wait_for(lambda: asyncio.sleep(0, svc.status["second"].steps >= 1))


async def test_memory_recalls_past_steps_into_the_prompt(stack, vllm, chain, tmp_path, store_url):
    f = tmp_path / "agents.yaml"
    f.write_text(service_yaml(await deploy_token(chain), agent("rememberer", "{every: 1h}", memory=3)))
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, api=False, store_url=store_url) as svc:
        first = await svc.run_step("rememberer")
        assert "Relevant past steps" not in first.prompt
        second = await svc.run_step("rememberer")
        assert "Relevant past steps" in second.prompt and "outcome:" in second.prompt
        assert svc.agents["rememberer"].memory.collection.count() == 2


# ---------------------------------------------------------------------- the CLI service, as a process


def keystore(tmp_path: Path, index: int) -> Path:
    key = dev_wallet(index)._account.key
    p = tmp_path / f"key{index}.json"
    p.write_text(json.dumps(Account.encrypt(key, "pw", kdf="pbkdf2", iterations=1000)))
    return p


def external_yaml(tmp_path: Path, anvil, vllm, token: str, port: int, wallet_index: int = 6, store_url: str | None = None) -> Path:
    """A service YAML as an operator would write it: RPC and vLLM URLs, a keystore wallet."""
    ks = keystore(tmp_path, wallet_index)
    text = service_yaml(token, agent("keeper", "{every: 1s}"),
                        model=f'{{url: "{vllm.url}", name: SmolLM2-135M-Instruct}}', chain=f'{{rpc: "{anvil.url}"}}',
                        wallets=f'{{treasury: {{keystore: "{ks}", password_env: KS_PW}}}}', api=f"{{port: {port}}}")
    f = tmp_path / "service.yaml"
    store = f"\nstore_url: {store_url}" if store_url else ""
    f.write_text(text.replace("version: 1", f"version: 1\nstate_dir: {tmp_path / 'state'}{store}"))
    return f


def start_service(f: Path) -> subprocess.Popen:
    env = {**os.environ, "KS_PW": "pw", "CONCILIUM_API_TOKEN": TOKEN}
    return subprocess.Popen([sys.executable, "-m", "concilium.cli", "run", str(f)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def test_kill_9_mid_step_and_restart_sends_nothing_twice_and_loses_nothing(anvil, vllm, chain, tmp_path, store_url):
    from concilium.stack.process import free_port

    wallet = dev_wallet(6)
    await set_balance(chain, HOT, 10**18)
    f = external_yaml(tmp_path, anvil, vllm, await deploy_token(chain), free_port(), store_url=store_url)
    nonce0 = await chain.mined_nonce(wallet.address)
    hot0 = await chain.w3.eth.get_balance(HOT)
    store = StateStore(store_url)
    for kill_after in (4.0, 2.7, 3.3):  # three hard kills at arbitrary points in the stepping
        proc = start_service(f)
        await asyncio.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = start_service(f)  # the last start reconciles and goes on; then a clean stop
    await wait_for(lambda: store_has_settled_steps(store, 2), timeout=120)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()[-2000:]
    rows = await store.recent("keeper", limit=10_000)
    await store.close()
    assert not [r for r in rows if r.status in ("signed", "sent")]  # nothing left in flight
    sent = [r for r in rows if r.status in ("confirmed", "reverted")]
    hashes = [r.tx_hash for r in sent]
    assert len(hashes) == len(set(hashes))
    mined = await chain.mined_nonce(wallet.address) - nonce0
    assert mined == len(sent)  # every transaction on chain belongs to exactly one recorded decision
    assert sorted(r.nonce for r in sent) == list(range(nonce0, nonce0 + mined))
    assert await chain.w3.eth.get_balance(HOT) - hot0 == sum(int(r.value_wei) for r in sent if r.status == "confirmed")


async def store_has_settled_steps(store: StateStore, n: int) -> bool:
    try:
        rows = await store.recent("keeper", limit=50)
    except Exception:
        return False
    return sum(1 for r in rows if r.status in ("confirmed", "noop", "refused")) >= n


async def test_schemathesis_finds_no_server_errors(anvil, vllm, chain, tmp_path, store_url):
    from concilium.stack.process import free_port

    port = free_port()
    f = external_yaml(tmp_path, anvil, vllm, await deploy_token(chain), port, wallet_index=7, store_url=store_url)
    f.write_text(f.read_text().replace("{every: 1s}", "{every: 1h}"))
    proc = start_service(f)
    try:
        async with httpx.AsyncClient() as http:
            async def up():
                try:
                    return (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for(up, timeout=60)
        st = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run", f"http://127.0.0.1:{port}/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", "12", "-H", f"Authorization: Bearer {TOKEN}",
             "--request-timeout", "60"],
            capture_output=True, text=True, timeout=600, env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"})
        assert st.returncode == 0, st.stdout[-4000:]
        # exit 0 under the not_a_server_error check is the claim; a warning (e.g. endpoints whose only
        # valid inputs are names the YAML does not define, like /committees/{name}) is not a failure
        assert "Loaded specification" in st.stdout and "Server error" not in st.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
