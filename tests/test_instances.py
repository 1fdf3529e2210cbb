"""Several `concilium run` instances on one PostgreSQL share one YAML's agents: a lease per agent
decides who steps it. Written as the failure: one instance is killed with SIGKILL mid-step, and
every agent keeps stepping on the other, no step of one agent overlaps another, and no
transaction is sent twice."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from eth_account import Account
from sqlalchemy import select

from concilium.agents.records import StateStore, StepRecord
from concilium.chain.wallets import dev_wallet
from concilium.service.leases import Lease, Leases
from tests.conftest import HOT, ROOT, deploy_token, set_balance

INTERVAL = 2.0
WALLETS = range(2, 8)  # one dev account per agent, as keystores (a real chain has no dev accounts)


def instances_yaml(tmp_path, anvil, vllm, token: str, store_url: str, name: str):
    wallets, agents = {}, []
    for i in WALLETS:
        ks = tmp_path / f"key{i}.json"
        if not ks.exists():
            ks.write_text(json.dumps(Account.encrypt(dev_wallet(i)._account.key, "pw", kdf="pbkdf2", iterations=1000)))
        wallets[f"w{i}"] = f'{{keystore: "{ks}", password_env: KS_PW}}'
        agents.append(textwrap.dedent(f"""\
          - name: agent{i}
            model: local
            chain: dev
            wallet: w{i}
            instructions: Keep hot_wallet above 5 ETH; send 0.01 ETH to it when it is below.
            schedule: {{every: {INTERVAL:g}s}}
            observe: [{{balance: hot_wallet}}]
            tools: [send_native]
            policy: {{recipients: [hot_wallet], max_value_per_tx: 0.02 ether, max_value_per_day: 100 ether}}
        """))
    state = tmp_path / name
    text = textwrap.dedent(f"""\
        version: 1
        state_dir: {state}
        store_url: {store_url}
        models:
          local: {{url: "{vllm.url}", name: SmolLM2-135M-Instruct}}
        chains:
          dev: {{rpc: "{anvil.url}"}}
        wallets:
        """) + "".join(f"  {k}: {v}\n" for k, v in wallets.items()) + textwrap.dedent(f"""\
        addresses:
          hot_wallet: "{HOT}"
        contracts:
          usdc: {{address: "{token}", abi: erc20}}
        api: {{enabled: false}}
        agents:
        """) + textwrap.indent("".join(agents), "  ")
    f = tmp_path / f"{name}.yaml"
    f.write_text(text)
    return f


def start(f) -> subprocess.Popen:
    log = open(f.with_suffix(".log"), "w")
    return subprocess.Popen([sys.executable, "-m", "concilium.cli", "run", str(f)], cwd=ROOT,
                            env={**os.environ, "KS_PW": "pw"}, stdout=log, stderr=subprocess.STDOUT)


async def holders(store: StateStore) -> dict[str, str]:
    return await Leases(store, "observer").holders()


async def test_two_instances_share_agents_and_survive_a_sigkill_mid_step(anvil, vllm, chain, tmp_path, postgres):
    url = await postgres.database()
    token = await deploy_token(chain)
    await set_balance(chain, HOT, 10**18)  # below 5 ETH: agents have a reason to send
    nonces0 = {i: await chain.mined_nonce(dev_wallet(i).address) for i in WALLETS}
    store = await StateStore(url).init()
    a = start(instances_yaml(tmp_path, anvil, vllm, token, url, "a"))
    b = start(instances_yaml(tmp_path, anvil, vllm, token, url, "b"))
    try:
        async def both_share() -> bool:
            h = await holders(store)
            return len(h) == 6 and len(set(h.values())) == 2

        end = time.monotonic() + 120
        while not await both_share():
            assert time.monotonic() < end, f"the two instances never split the agents: {await holders(store)}"
            assert a.poll() is None and b.poll() is None, "an instance exited early"
            await asyncio.sleep(0.2)
        pid_a = str(a.pid)
        a_agents = {ag for ag, h in (await holders(store)).items() if f"/{pid_a}/" in h}
        assert 1 <= len(a_agents) <= 5

        async def a_mid_step() -> bool:  # one of A's agents has a planned or in-flight step
            async with store.sessions() as s:
                rows = await s.scalars(select(StepRecord.status).where(StepRecord.agent.in_(a_agents)))
                return any(st in ("planned", "signed", "sent") for st in rows)

        end = time.monotonic() + 30
        while not await a_mid_step() and time.monotonic() < end:
            await asyncio.sleep(0.02)
        a.send_signal(signal.SIGKILL)
        a.wait()
        killed_at = time.time()

        async def all_stepping_after_kill() -> bool:
            async with store.sessions() as s:
                rows = list(await s.scalars(select(StepRecord).where(StepRecord.started_at > killed_at)))
            done = {r.agent for r in rows if r.status not in ("planned", "signed", "sent")}
            return done >= {f"agent{i}" for i in WALLETS}

        end = time.monotonic() + 240
        while not await all_stepping_after_kill():
            assert time.monotonic() < end, "not every agent stepped again after the kill"
            assert b.poll() is None, "instance B died"
            await asyncio.sleep(0.5)
        assert set((await holders(store)).values()) == {next(iter((await holders(store)).values()))}  # B holds all now
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        assert b.wait(timeout=90) == 0, (tmp_path / "b.log").read_text()[-3000:]

    async with store.sessions() as s:
        rows = list(await s.scalars(select(StepRecord).order_by(StepRecord.started_at)))
        leases = list(await s.scalars(select(Lease)))
    await store.close()
    assert not [r for r in rows if r.status in ("planned", "signed", "sent")]  # nothing dangling after B's clean stop
    assert not [l for l in leases if not l.agent.startswith("@")]  # B handed its leases back on stop
    for i in WALLETS:
        mine = [r for r in rows if r.agent == f"agent{i}" and r.started_at is not None]
        for prev, nxt in zip(mine, mine[1:]):  # one agent's steps never overlap, across instances
            assert nxt.started_at >= prev.updated_at, (prev.id, prev.status, nxt.id)
        sent = [r for r in mine if r.status in ("confirmed", "reverted")]
        assert len({r.tx_hash for r in sent}) == len(sent)
        mined = await chain.mined_nonce(dev_wallet(i).address) - nonces0[i]
        assert mined == len(sent), f"agent{i}: {mined} transactions mined, {len(sent)} recorded"
    moved = [r for r in rows if r.agent in a_agents and r.started_at > killed_at]
    first = {ag: min(r.started_at for r in moved if r.agent == ag) for ag in a_agents}
    moved_after = max(first.values()) - killed_at
    print(f"instances: A had {len(a_agents)} agent(s); {len(rows)} steps, "
          f"{sum(r.status in ('confirmed', 'reverted') for r in rows)} transactions, "
          f"{sum(r.status == 'abandoned' for r in rows)} abandoned; A's agents moved after {moved_after:.2f} s")
    assert moved_after <= 2 * INTERVAL + 2.0, first  # moved within two intervals (+ scheduling slack)
