"""How many model requests may be in flight to one server at once.

Many agents stepping together on a slow server should queue here, not inside the server: a
request admitted to vLLM shares the batch with every other one, so with too many in flight each
one's service time grows until every request times out together. `InFlightLimit` is a queue with
a concurrency limit sized from the server's measured throughput (Little's law): it admits as
many requests as the server finishes within `target_seconds`, between `floor` and `ceiling`.
The client's timeout then covers one request's service time; time spent queued here is not
counted against it.

One limit per server URL and event loop, shared by every client of that server.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from contextlib import asynccontextmanager
from typing import AsyncIterator

CEILING = 32  # past this, CPU batching stops paying (benchmarks/serving.py)
INITIAL = 8


class InFlightLimit:
    def __init__(self, target_seconds: float, initial: int = INITIAL, floor: int = 1, ceiling: int = CEILING):
        self.target_seconds = target_seconds
        self.floor, self.ceiling = floor, ceiling
        self.limit = max(floor, min(initial, ceiling))
        self.in_flight = 0
        self.throughput: float | None = None  # requests finished per second, smoothed
        self._cond = asyncio.Condition()
        self._area = 0.0  # integral of in_flight over time (request-seconds served)
        self._since = time.monotonic()

    def _tick(self) -> float:
        now = time.monotonic()
        self._area += self.in_flight * (now - self._since)
        self._since = now
        return now

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            start = self._tick()
            area0 = self._area
            self.in_flight += 1
        ok = False
        try:
            yield
            ok = True
        finally:
            async with self._cond:
                end = self._tick()
                self.in_flight -= 1
                if ok:
                    self._observe((self._area - area0) / max(end - start, 1e-9), end - start)
                self._cond.notify_all()

    def _observe(self, sharing: float, seconds: float) -> None:
        """On average `sharing` requests (this one included) shared the server for this request's
        `seconds`: by Little's law it finished sharing / seconds requests per second. (Counting
        only those in flight when it was admitted undercounts a burst: the first of 32 admitted
        together saw one.)"""
        rate = sharing / max(seconds, 1e-3)
        self.throughput = rate if self.throughput is None else 0.7 * self.throughput + 0.3 * rate
        self.limit = max(self.floor, min(self.ceiling, int(self.throughput * self.target_seconds)))


_limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, InFlightLimit]] = weakref.WeakKeyDictionary()


def limit_for(url: str, timeout: float) -> InFlightLimit:
    """The shared limit for `url` on this event loop; admits what finishes within half the timeout."""
    per_loop = _limits.setdefault(asyncio.get_running_loop(), {})
    if url not in per_loop:
        per_loop[url] = InFlightLimit(target_seconds=timeout / 2)
    return per_loop[url]
