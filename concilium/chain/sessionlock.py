"""A cancellation-safe `async_lock` for web3.py's HTTP session cache (web3 8.0.0).

Every AsyncHTTPProvider request takes one process-wide `threading.Lock` (`HTTPSessionManager._lock`
is a class attribute) through `web3._utils.async_caching.async_lock`, which waits for it in a
thread pool. A request cancelled while waiting (a timeout, a task stopped with its node or agent)
released the lock from under its holder, and its pool thread later took the lock with nobody left
to release it: from then on every HTTP RPC call in the process hangs (web3.py issue #3867; a fix
is proposed upstream in PR #3872). Seen here as a test session that wedged after an oracle
network was stopped mid-request; a long-running agent service or oracle node would wedge the same
way. This version never waits in a thread and cannot leave the lock held: it tries the lock
without blocking between short sleeps (a holder keeps it only for a cache look-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from web3._utils import async_caching, http_session_manager


@contextlib.asynccontextmanager
async def async_lock(thread_pool: ThreadPoolExecutor, lock: threading.Lock) -> AsyncIterator[None]:
    """Hold `lock` for the block; a cancellation while waiting leaves it as it was."""
    while not lock.acquire(blocking=False):
        await asyncio.sleep(0.001)
    try:
        yield
    finally:
        lock.release()


def install() -> None:
    """Use `async_lock` for web3's session cache, unless web3 no longer uses its own (fixed upstream)."""
    if http_session_manager.async_lock is async_caching.async_lock:
        http_session_manager.async_lock = async_lock

