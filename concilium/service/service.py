"""AgentService: every agent of a spec as one long-running service.

Schedules: `every` and `cron` through APScheduler (AsyncIOScheduler, job store in the state
database, so a restart resumes the schedule), `on_block` and `on_event` through chain-polling
tasks. One agent never overlaps itself (a run that finds its agent busy is coalesced away);
different agents step concurrently, so vLLM batches their model calls. Pause/resume, a step on
demand, and reloading the YAML (refused, with the running agents untouched, if it is invalid).
On stop, in-flight steps get `grace` seconds to finish; a step cut off later is safe, since its
transaction was recorded before broadcast and is reconciled on the next start.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import socket
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import SQLAlchemyError

from concilium.agents.agent import Agent
from concilium.agents.records import StepRecord
from concilium.errors import ConciliumError, SpecError
from concilium.runtime import Runtime
from concilium.service.leases import Leases
from concilium.service.metrics import ServiceMetrics
from concilium.spec import Spec, load_spec
from concilium.stack.embedded import EmbeddedStack
from concilium.stack.process import Progress

log = logging.getLogger("concilium.service")
_SERVICES: dict[str, "AgentService"] = {}


async def run_scheduled_step(service_key: str, agent: str) -> None:
    """The APScheduler job: module-level and called with plain ids, as its job store requires."""
    service = _SERVICES.get(service_key)
    if service is not None:
        try:
            await service.run_step(agent, reason="schedule")
        except asyncio.CancelledError:
            pass  # the scheduler is shutting down; the step itself runs on and stop() waits for it


@dataclass
class AgentStatus:
    name: str
    paused: bool = False
    running: bool = False
    steps: int = 0
    failures: int = 0
    last_status: str | None = None
    last_step_at: float | None = None
    last_error: str | None = None
    schedule: str = ""
    next_run_at: float | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class AgentService:
    runtime: Runtime
    spec_path: Path | None = None
    grace: float = 30.0
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)

    instance: str | None = None  # stable name of this instance; default: host and state dir

    def __post_init__(self) -> None:
        store = self.runtime.store
        self.instance = self.instance or os.environ.get("CONCILIUM_INSTANCE") or f"{socket.gethostname()}:{self.runtime.state_dir.resolve()}"
        self.key = self.instance
        self.status: dict[str, AgentStatus] = {}
        self._inflight: dict[str, asyncio.Task] = {}
        self._triggers: dict[str, asyncio.Task] = {}
        self._renewer: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self.started_steps: dict[str, asyncio.Task] = {}  # step id -> its task, for clients following a step
        self.leases = Leases(store, holder=f"{self.instance[-80:]}/{os.getpid()}/{uuid.uuid4().hex[:8]}")
        if store.engine.dialect.name == "sqlite":  # its own file: APScheduler's sync writes never wait on the state db
            jobs = SQLAlchemyJobStore(url=f"sqlite:///{self.runtime.state_dir / 'jobs.db'}")
        else:  # one job table per instance: every instance fires every agent's schedule, the lease picks who steps
            table = "apscheduler_jobs_" + hashlib.sha1(self.instance.encode()).hexdigest()[:12]
            jobs = SQLAlchemyJobStore(url=store.sync_url, tablename=table)
        self.scheduler = AsyncIOScheduler(jobstores={"default": jobs},
                                          job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
        self.api_server = None

    @classmethod
    @asynccontextmanager
    async def open(cls, spec: Spec | str | Path, stack: EmbeddedStack | None = None, state_dir: Path | None = None,
                   progress: Progress = lambda _: None, api: bool = True, store_url: str | None = None,
                   instance: str | None = None) -> AsyncIterator["AgentService"]:
        path = None if isinstance(spec, Spec) else Path(spec)
        spec = spec if isinstance(spec, Spec) else load_spec(spec)
        async with Runtime.open(spec, stack=stack, state_dir=state_dir, progress=progress, store_url=store_url) as rt:
            service = cls(rt, path, instance=instance)
            await service.start(api=api and spec.api.enabled)
            try:
                yield service
            finally:
                await service.stop()

    @property
    def agents(self) -> dict[str, Agent]:
        return self.runtime.agents

    # ------------------------------------------------------------------ lifecycle

    async def start(self, api: bool = True) -> None:
        """Settle what a previous run left, register every agent, and only then let the
        scheduler fire: a run missed while we were down fires once, for a known agent."""
        _SERVICES[self.key] = self
        self.scheduler.start(paused=True)
        await self.leases.acquire(self.leases.presence, self._presence_ttl())
        share = await self.leases.fair_share(len(self.agents))
        for agent in self.agents.values():
            if len(self.leases.held) < share and await self.leases.acquire(agent.name, self._ttl(agent)):  # another live instance may be stepping it
                await agent.reconcile()  # settle what a previous run left in flight, before anything new
            self._schedule(agent)
        for job in self.scheduler.get_jobs():  # agents removed from the YAML while we were down
            if job.id.removeprefix("agent:") not in self.agents:
                job.remove()
        self.scheduler.resume()
        self._renewer = asyncio.create_task(self._renew_leases())
        if api:
            from concilium.service.api import serve_api

            self.api_server = await serve_api(self)

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        for t in self._triggers.values():
            t.cancel()
        inflight = [t for t in self._inflight.values() if not t.done()]
        if inflight:
            log.info("waiting for in-flight steps", extra={"steps": len(inflight), "grace_s": self.grace})
            done, pending = await asyncio.wait(inflight, timeout=self.grace)
            for t in pending:
                t.cancel()  # safe: recorded transactions are reconciled at the next start
            await asyncio.gather(*pending, return_exceptions=True)
        if self._renewer is not None:
            self._stopping.set()  # let it finish its round: a cancelled query leaves a half-closed connection
            await asyncio.wait({self._renewer}, timeout=10)
        try:
            await self.leases.release_all()  # a clean stop hands its agents over at once
        except (SQLAlchemyError, OSError) as e:
            log.warning("could not release leases; they expire on their own", extra={"error": str(e)[:200]})
        if self.api_server is not None:
            await self.api_server.stop()
        _SERVICES.pop(self.key, None)

    def _ttl(self, agent: Agent) -> float:
        """How long a lease on `agent` lasts without renewal: one schedule interval (1-60 s), so
        a dead instance's agents are stepped elsewhere within two intervals."""
        every = agent.spec.schedule.every
        return min(max(every, 1.0), 60.0) if every is not None else (60.0 if agent.spec.schedule.cron else 10.0)

    def _presence_ttl(self) -> float:
        return min((self._ttl(a) for a in self.agents.values()), default=10.0)

    async def _renew_leases(self) -> None:
        """Keep our leases and presence alive; hand back agents beyond our fair share."""
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self._presence_ttl() / 4)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self.leases.acquire(self.leases.presence, self._presence_ttl())
                await self.leases.renew()
                surplus = len(self.leases.held) - await self.leases.fair_share(len(self.agents))
                for name in [n for n in self.leases.held if not getattr(self.status.get(n), "running", False)][:max(surplus, 0)]:
                    await self.leases.release(name)
                    log.info("handed an agent to another instance", extra={"agent": name})
            except (SQLAlchemyError, OSError) as e:
                log.warning("lease renewal failed", extra={"error": str(e)[:200]})

    # ------------------------------------------------------------------ schedules

    def _schedule(self, agent: Agent) -> None:
        name, s = agent.name, agent.spec.schedule
        agent.fence = functools.partial(self.leases.check, name)
        st = self.status.setdefault(name, AgentStatus(name))
        job_id = f"agent:{name}"
        trigger = s.entry
        st.schedule = trigger.describe(s.options)
        if trigger.job is not None:
            job_trigger = trigger.job(s.options, int(s.jitter) if s.jitter else None)
            job = self.scheduler.get_job(job_id)
            if job is None or str(job.trigger) != str(job_trigger):  # unchanged jobs keep their next run: the schedule resumes
                self.scheduler.add_job(run_scheduled_step, job_trigger, args=[self.key, name], id=job_id, replace_existing=True)
            job = self.scheduler.get_job(job_id)
            st.paused = job.next_run_time is None
        else:
            if self.scheduler.get_job(job_id):
                self.scheduler.remove_job(job_id)

            async def fire(reason: str) -> None:
                await self.run_step(name, reason=reason)

            self._triggers[name] = asyncio.create_task(trigger.watch(agent, s.options, fire))

    def _unschedule(self, name: str) -> None:
        if self.scheduler.get_job(f"agent:{name}"):
            self.scheduler.remove_job(f"agent:{name}")
        if (t := self._triggers.pop(name, None)) is not None:
            t.cancel()

    # ------------------------------------------------------------------ steps

    def begin_step(self, name: str, reason: str = "api") -> tuple[str, asyncio.Task] | None:
        """Start one step of `name` and return (step id, task), unless it is paused (for
        scheduled runs) or already running (the run is coalesced into the one in flight)."""
        st = self.status.get(name)
        if st is None or name not in self.agents:
            log.warning("no such agent; run ignored", extra={"agent": name, "reason": reason})
            return None
        if st.paused and reason != "api":
            return None
        if name in self._inflight and not self._inflight[name].done():
            return None
        step_id = str(uuid.uuid4())
        task = asyncio.create_task(self._step(name, step_id))
        self._inflight[name] = task
        self.started_steps[step_id] = task
        while len(self.started_steps) > 1000:  # remember the latest ids for clients following them
            self.started_steps.pop(next(iter(self.started_steps)))
        return step_id, task

    async def run_step(self, name: str, reason: str = "api") -> StepRecord | None:
        """One step of `name` (see begin_step); errors are recorded, not raised."""
        started = self.begin_step(name, reason)
        if started is None:
            return None
        rec = await asyncio.shield(started[1])
        return rec if isinstance(rec, StepRecord) else None

    async def _step(self, name: str, step_id: str) -> StepRecord | str:
        """The step's record, or the error that stopped it before it had one. Steps only
        under this instance's lease on the agent."""
        st = self.status[name]
        try:
            if name not in self.leases.held and len(self.leases.held) >= await self.leases.fair_share(len(self.agents)):
                return f"{name} is left to another instance: this one steps its fair share already"
            if not await self.leases.acquire(name, self._ttl(self.agents[name])):
                return f"{name} is stepped by another instance now (it holds the agent's lease)"
        except (SQLAlchemyError, OSError) as e:
            st.failures, st.last_status, st.last_error = st.failures + 1, "error", f"state database unreachable: {str(e)[:200]}"
            return st.last_error
        st.running = True
        try:
            rec = await self.agents[name].step(step_id)
        except ConciliumError as e:
            st.failures += 1
            st.last_error = str(e)
            st.last_status = "error"
            self.metrics.step_failures.labels(name, type(e).__name__).inc()
            log.warning("step failed", extra={"agent": name, "error": str(e)[:300]})
            return str(e)
        finally:
            st.running = False
            st.steps += 1
            st.last_step_at = time.time()
        st.last_status, st.last_error = rec.status, rec.error
        self.metrics.record(rec)
        return rec

    def pause(self, name: str) -> None:
        self.status[name].paused = True
        if self.scheduler.get_job(f"agent:{name}"):
            self.scheduler.pause_job(f"agent:{name}")

    def resume(self, name: str) -> None:
        self.status[name].paused = False
        if self.scheduler.get_job(f"agent:{name}"):
            self.scheduler.resume_job(f"agent:{name}")

    def snapshot(self) -> list[dict]:
        for name, st in self.status.items():
            job = self.scheduler.get_job(f"agent:{name}")
            st.next_run_at = job.next_run_time.timestamp() if job and job.next_run_time else None
        return [st.as_dict() for st in self.status.values()]

    # ------------------------------------------------------------------ reload

    async def reload(self, path: Path | None = None) -> list[str]:
        """Apply a changed YAML. Invalid YAML, or one that needs new chains, models or wallets,
        is refused (SpecError) and the running agents go on untouched. Returns what changed."""
        path = path or self.spec_path
        if path is None:
            raise SpecError(["this service was started from a Spec object, not a file: nothing to reload"])
        new = load_spec(path)
        rt = self.runtime
        missing = [f"agents[{i}].{what}: {getattr(a, what)!r} needs a restart to be added"
                   for i, a in enumerate(new.agents) for what, known in (("chain", rt.chains), ("model", rt.models))
                   if getattr(a, what) not in known]
        missing += [f"wallets.{w}: new wallets need a restart" for w in new.wallets if w not in rt.wallets]
        if missing:
            raise SpecError(missing, str(path))
        old_spec, old_agents = rt.spec, dict(rt.agents)
        rt.spec = new
        try:
            built = {a.name: rt.build_agent(a) for a in new.agents}
        except ConciliumError:
            rt.spec = old_spec
            raise
        changes = []
        for name in old_agents.keys() - built.keys():
            self._unschedule(name)
            self.status.pop(name, None)
            changes.append(f"removed {name}")
        for name, agent in built.items():
            old = old_agents.get(name)
            if old is not None and old.spec == agent.spec:
                built[name] = old  # unchanged: keep the instance (and its lock)
                continue
            self._unschedule(name)
            rt.agents[name] = agent
            self._schedule(agent)
            changes.append(("changed " if old else "added ") + name)
        rt.agents.clear()
        rt.agents.update(built)
        log.info("spec reloaded", extra={"changes": changes})
        return changes
