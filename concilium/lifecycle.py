"""One lifecycle for a service's long-lived tasks (setup, run_forever, cleanup), after
infernet-node's orchestration: a `Supervisor` runs each task, restarts it with exponential
back-off when it raises, and keeps a `TaskState` per task that health checks and metrics read.
Short-lived work (one oracle round) is `spawn`ed on the same supervisor: it is not restarted,
but a failure is recorded, never lost in a done-callback."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

log = logging.getLogger("concilium.lifecycle")


class Task(Protocol):
    name: str

    async def setup(self) -> None: ...

    async def run_forever(self) -> None: ...

    async def cleanup(self) -> None: ...


@dataclass
class TaskState:
    name: str
    running: bool = False
    restarts: int = 0
    last_error: str | None = None
    last_failure_at: float | None = None
    next_start_at: float | None = None

    def as_dict(self) -> dict:
        return {"running": self.running, "restarts": self.restarts, "last_error": self.last_error,
                "last_failure_at": self.last_failure_at}


@dataclass
class Failure:
    task: str
    error: str
    at: float


@dataclass
class Supervisor:
    owner: str = "service"
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    on_failure: Callable[[Failure], None] | None = None
    states: dict[str, TaskState] = field(default_factory=dict)
    failures: deque = field(default_factory=lambda: deque(maxlen=50))  # recent failures of any task
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def supervise(self, task: Task) -> asyncio.Task:
        self.states[task.name] = TaskState(task.name)
        return self._start(self._loop(task), task.name)

    def spawn(self, coro: Awaitable, name: str) -> asyncio.Task:
        """Run one-shot work; an exception is recorded as a failure of `name`."""
        return self._start(self._once(coro, name), name)

    def dead(self) -> list[str]:
        """Supervised tasks that are not running now (failed, waiting to restart)."""
        return sorted(s.name for s in self.states.values() if not s.running)

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------

    def _start(self, coro, name: str) -> asyncio.Task:
        t = asyncio.create_task(coro, name=name)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    def _fail(self, name: str, e: BaseException) -> None:
        f = Failure(name, f"{type(e).__name__}: {e}"[:300], time.time())
        self.failures.append(f)
        log.error("task failed", exc_info=e, extra={"owner": self.owner, "task": name})
        if self.on_failure is not None:
            self.on_failure(f)

    async def _once(self, coro: Awaitable, name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - recorded and reported, the service goes on
            self._fail(name, e)

    async def _loop(self, task: Task) -> None:
        state = self.states[task.name]
        backoff = self.min_backoff
        while True:
            started = time.monotonic()
            try:
                await task.setup()
                state.running, state.next_start_at = True, None
                await task.run_forever()
                raise RuntimeError("run_forever returned")
            except asyncio.CancelledError:
                state.running = False
                await asyncio.shield(self._cleanup(task))
                raise
            except Exception as e:  # noqa: BLE001 - the point of a supervisor
                state.running = False
                state.restarts += 1
                state.last_error, state.last_failure_at = f"{type(e).__name__}: {e}"[:300], time.time()
                self._fail(task.name, e)
                await self._cleanup(task)
                if time.monotonic() - started > 4 * backoff:
                    backoff = self.min_backoff  # it ran a good while: a fresh failure, not a crash loop
                state.next_start_at = time.time() + backoff
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def _cleanup(self, task: Task) -> None:
        try:
            await task.cleanup()
        except Exception as e:  # noqa: BLE001
            log.warning("task cleanup failed", extra={"task": task.name, "error": str(e)[:200]})
