"""The supervisor that keeps a node's long-lived tasks running (fast, no network)."""

import asyncio

from concilium.lifecycle import Supervisor


class Flaky:
    name = "flaky"

    def __init__(self, failures: int):
        self.failures, self.setups, self.cleanups = failures, 0, 0

    async def setup(self):
        self.setups += 1

    async def run_forever(self):
        if self.failures:
            self.failures -= 1
            raise ValueError("boom")
        await asyncio.Event().wait()

    async def cleanup(self):
        self.cleanups += 1


async def test_a_task_that_raises_is_restarted_with_back_off_and_reported():
    sup = Supervisor(min_backoff=0.01, max_backoff=0.05)
    task = Flaky(failures=3)
    sup.supervise(task)
    for _ in range(100):
        if sup.states["flaky"].running and sup.states["flaky"].restarts == 3:
            break
        await asyncio.sleep(0.01)
    st = sup.states["flaky"]
    assert st.running and st.restarts == 3 and "ValueError: boom" in st.last_error
    assert task.setups == 4 and task.cleanups == 3 and sup.dead() == []
    assert [f.task for f in sup.failures] == ["flaky"] * 3
    await sup.stop()
    assert task.cleanups == 4 and sup.dead() == ["flaky"]


async def test_a_task_that_keeps_failing_is_visible_as_dead_between_restarts():
    sup = Supervisor(min_backoff=0.2, max_backoff=0.2)
    sup.supervise(Flaky(failures=10**6))
    await asyncio.sleep(0.05)
    assert sup.dead() == ["flaky"] and sup.states["flaky"].restarts >= 1
    await sup.stop()


async def test_one_shot_work_that_raises_is_recorded_not_lost():
    seen = []
    sup = Supervisor(on_failure=seen.append)

    async def bad():
        raise KeyError("x")

    await sup.spawn(bad(), "round:7")
    assert [f.task for f in seen] == ["round:7"] and "KeyError" in seen[0].error
    await sup.stop()
