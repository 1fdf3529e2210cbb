"""Cancelled RPC requests never wedge the process's other requests (web3.py 8.0.0 issue #3867,
concilium/chain/sessionlock.py). Written as the fault: many concurrent requests, cancelled at
random points, as a node or agent stopping mid-request does."""

import asyncio
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from web3._utils import http_session_manager

from concilium.chain.client import ChainClient
from concilium.chain.sessionlock import async_lock


async def hammer(lock_cm, rounds: int = 150, waiters: int = 8) -> tuple[int, bool]:
    """Tasks take the lock as web3's session cache does and are cancelled at random points;
    returns the most holders seen at once and whether the lock ends free (False as soon as the
    survivors of a round cannot get it within 2 s: wedged)."""
    lock, pool = threading.Lock(), ThreadPoolExecutor(max_workers=5)
    rng = random.Random(7)
    holders = most = 0

    async def user():
        nonlocal holders, most
        async with lock_cm(pool, lock):
            holders += 1
            most = max(most, holders)
            try:
                await asyncio.sleep(rng.choice([0, 0, 0.0005, 0.001]))
            finally:
                holders -= 1

    for _ in range(rounds):
        tasks = [asyncio.ensure_future(user()) for _ in range(waiters)]
        await asyncio.sleep(rng.choice([0, 0.0002, 0.001]))
        for t in rng.sample(tasks, waiters // 2):
            t.cancel()
        _, pending = await asyncio.wait(tasks, timeout=2)
        if pending:
            for t in pending:
                t.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            return most, False
    await asyncio.sleep(0.2)  # let any pool thread still waiting on the lock finish
    free = lock.acquire(timeout=1)
    pool.shutdown(wait=False, cancel_futures=True)
    return most, free


async def test_the_session_lock_keeps_mutual_exclusion_and_ends_free_under_cancellation():
    most, free = await hammer(async_lock)
    assert most == 1 and free


async def test_web3_uses_the_cancellation_safe_lock_and_requests_survive_cancelled_ones(anvil):
    assert http_session_manager.async_lock is async_lock  # installed by concilium.chain.rpc
    chain = ChainClient([anvil.url])
    try:
        for _ in range(20):  # requests stopped mid-flight, as a stopping node's tasks are
            tasks = [asyncio.ensure_future(chain.w3.eth.block_number) for _ in range(10)]
            await asyncio.sleep(random.choice([0, 0.001, 0.005]))
            for t in tasks[::2]:
                t.cancel()
            await asyncio.wait(tasks, timeout=10)
        assert await asyncio.wait_for(chain.w3.eth.block_number, 10) >= 0  # the next request is served
    finally:
        await chain.close()
