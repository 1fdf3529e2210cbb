"""The schedule seam: what may wake an agent (`schedule: {every: 30s}` and friends).

A `Trigger` declares its YAML key, the type of its options (validated with the file), a
one-line description for status pages, the names it needs from the YAML, and how it runs:
either `job(opts, jitter)` returns an APScheduler trigger (time-based, persisted in the job
store, so a restart resumes the schedule), or `watch(agent, opts, fire)` returns a coroutine
that polls the agent's chain and calls `fire(reason)`. Built-ins: every, cron, on_block,
on_event; others `TRIGGERS.register(Trigger(...))`. The spec builds `schedule:` from this
registry, so this module imports nothing heavy at the top and nothing that imports the spec.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated, Any, Awaitable, Callable, Iterable

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from concilium.errors import ChainError
from concilium.registry import Registry
from concilium.units import parse_duration

# Higher layers (spec, context, agent) appear in annotations only, as strings: this module sits
# below them, since spec is built from the registry.

log = logging.getLogger("concilium.triggers")
Fire = Callable[[str], Awaitable[None]]  # called with a reason


@dataclass(frozen=True)
class Trigger:
    name: str
    options: Any
    describe: Callable[[Any], str]
    job: Callable[[Any, int | None], Any] | None = None
    watch: Callable[["Agent", Any, Fire], Awaitable[None]] | None = None
    check: Callable[["Spec", Any], Iterable[tuple[tuple, str]]] | None = None


TRIGGERS: Registry[Trigger] = Registry("trigger", group="concilium.triggers")


# ----------------------------------------------------------------------------- time


def _cron(v: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        if len(v.split()) != 5:
            raise ValueError
        CronTrigger.from_crontab(v)
    except ValueError:
        raise ValueError(f'expected a five-field cron expression like "*/5 * * * *", got {v!r}') from None
    return v


def _interval(seconds: float, jitter: int | None):
    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(seconds=seconds, jitter=jitter)


def cron_trigger(expr: str, jitter: int | None = None):
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, day_of_week = expr.split()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week, jitter=jitter)


TRIGGERS.register(Trigger("every", Annotated[float, BeforeValidator(parse_duration)], lambda s: f"every {s:g} s", job=_interval))
TRIGGERS.register(Trigger("cron", Annotated[str, AfterValidator(_cron)], lambda c: f"cron {c}", job=cron_trigger))


# ----------------------------------------------------------------------------- chain


async def on_blocks(w3, every: int, fire: Fire, poll: float = 0.5) -> None:
    from web3.exceptions import Web3Exception

    last = await w3.eth.block_number
    while True:
        await asyncio.sleep(poll)
        try:
            head = await w3.eth.block_number
        except (ChainError, Web3Exception, OSError) as e:
            log.warning("block poll failed", extra={"error": str(e)[:200]})
            continue
        if head - last >= every:
            last = head
            await fire(f"block {head}")


async def on_event(contract, event: str, where: dict, resolve: Callable[[object], object], fire: Fire, poll: float = 0.5) -> None:
    """`where` maps event argument names to values; names of YAML addresses are resolved."""
    from web3.exceptions import Web3Exception

    w3 = contract.w3
    cursor = await w3.eth.block_number
    wanted = {k: resolve(v) for k, v in where.items()}
    while True:
        await asyncio.sleep(poll)
        try:
            head = await w3.eth.block_number
            if head <= cursor:
                continue
            logs = await contract.events[event]().get_logs(from_block=cursor + 1, to_block=head)
        except (ChainError, Web3Exception, OSError) as e:
            log.warning("event poll failed", extra={"error": str(e)[:200]})
            continue
        cursor = head
        for e in logs:
            if all(_equal(e["args"].get(k), v) for k, v in wanted.items()):
                await fire(f"{event} in block {e['blockNumber']}")
                break  # one step per batch of matching events: missed runs coalesce


def _equal(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


class EventTrigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    contract: str
    event: str
    where: dict[str, Any] = {}


def _event_check(spec, ev: EventTrigger):
    if m := spec.undefined("contracts", ev.contract):
        yield ("contract",), m


TRIGGERS.register(Trigger(
    "on_block", Annotated[int, Field(ge=1)], lambda n: f"every {n} block(s)",
    watch=lambda agent, n, fire: on_blocks(agent.chain.w3, n, fire)))
TRIGGERS.register(Trigger(
    "on_event", EventTrigger, lambda ev: f"on {ev.contract}.{ev.event}",
    watch=lambda agent, ev, fire: on_event(agent.ctx.contracts[ev.contract].handle, ev.event, ev.where, agent.ctx.resolve_one, fire),
    check=_event_check))
