"""Crash and restart leave nothing dangling: a step killed between plan and sign is marked
abandoned (and the audit export says so); a run missed while the service was down fires once,
for a registered agent, at the next start."""

import asyncio
import json
import logging
import subprocess
import sys
import time

from concilium.agents.agent import ABANDONED
from concilium.service.service import AgentService
from tests.conftest import HOT, ROOT, deploy_token, set_balance
from tests.test_service import agent, service_yaml, wait_for


class Crash(BaseException):
    """Stands for the process dying (kill -9) after the plan was recorded."""


async def test_step_killed_between_plan_and_sign_is_abandoned_at_restart(stack, vllm, chain, tmp_path, store_url):
    f = tmp_path / "agents.yaml"
    f.write_text(service_yaml(await deploy_token(chain), agent("keeper", "{every: 1h}")))
    await set_balance(chain, HOT, 10**18)
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, api=False, store_url=store_url) as svc:
        keeper = svc.agents["keeper"]

        async def die(*_a, **_k):
            raise Crash()

        keeper._execute = die  # the process "dies" right after the plan is recorded
        try:
            await keeper.step()
        except Crash:
            pass
        [planned] = await svc.runtime.store.recent("keeper")
        assert planned.status == "planned" and planned.output and planned.tx_hash is None
        svc.scheduler.remove_all_jobs()
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, api=False, store_url=store_url) as svc:
        rec = await svc.runtime.store.get(planned.id)
        assert rec.status == "abandoned" and rec.error == ABANDONED and rec.tx_hash is None
        assert await svc.runtime.store.pending("keeper") == []
    out = subprocess.run([sys.executable, "-m", "concilium.cli", "audit", "export", "--store-url", store_url],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    [row] = [json.loads(line) for line in out.stdout.splitlines()]
    assert row["id"] == planned.id and row["status"] == "abandoned" and "nothing was sent" in row["error"]
    assert "1 abandoned" in out.stderr


async def test_a_run_missed_while_down_fires_once_at_restart_for_a_registered_agent(stack, vllm, chain, tmp_path, store_url, caplog):
    f = tmp_path / "agents.yaml"
    f.write_text(service_yaml(await deploy_token(chain), agent("a", "{every: 4s}") + agent("b", "{every: 4s}")))
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, api=False, store_url=store_url) as svc:
        next_runs = [j.next_run_time.timestamp() for j in svc.scheduler.get_jobs()]
    await asyncio.sleep(max(next_runs) - time.time() + 0.5)  # both runs are now missed
    caplog.set_level(logging.WARNING)
    opened = time.monotonic()
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, api=False, store_url=store_url) as svc:
        started = lambda n: svc.status[n].running or svc.status[n].steps >= 1  # noqa: E731
        await wait_for(lambda: asyncio.sleep(0, all(started(n) for n in "ab")), timeout=60, every=0.05)
        assert time.monotonic() - opened < 3.0  # the missed run itself, not the next interval
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or "KeyError" in r.getMessage()]
    assert not errors, [r.getMessage() for r in errors]
