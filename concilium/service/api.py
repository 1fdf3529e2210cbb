"""The service's HTTP API (FastAPI), bound to localhost by default.

Reading is open; anything that changes state (step, pause, resume, reload) needs
`Authorization: Bearer <token>`, the token read from the environment variable named by
`api.token_env` (default CONCILIUM_API_TOKEN). With no token set, state changes are refused.
Records never carry keys; the raw signed transaction is left out too.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from concilium.committee.store import CommitteeStore
from concilium.errors import ConciliumError, SpecError
from concilium.httpserver import HttpServer
from concilium.service.dashboard import mount_dashboard
from concilium.stack.process import free_port

_bearer = HTTPBearer(auto_error=False)


class AgentStatusOut(BaseModel):
    name: str
    paused: bool
    running: bool
    steps: int
    failures: int
    last_status: str | None
    last_step_at: float | None
    last_error: str | None
    schedule: str
    next_run_at: float | None


class StepOut(BaseModel):
    id: str
    agent: str
    created_at: float
    status: str
    action: str | None = None
    args: Any = None
    reason: str | None = None
    rule: str | None = None
    verdict: str | None = None
    summary: str | None = None
    model_id: str | None = None
    model_name: str | None = None
    inputs_hash: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    gas_used: int | None = None
    error: str | None = None

    @classmethod
    def of(cls, rec) -> "StepOut":
        d = rec.as_dict()
        return cls(**{k: d.get(k) for k in cls.model_fields})


class StepStarted(BaseModel):
    id: str
    agent: str
    status: str  # running (then poll `url`), or error when it failed before planning
    url: str
    error: str | None = None


class ReloadOut(BaseModel):
    changes: list[str]


def build_app(service) -> FastAPI:
    app = FastAPI(title="Concilium agent service", version="1")
    token = os.environ.get(service.runtime.spec.api.token_env)

    def require_token(cred: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        if not token:
            raise HTTPException(403, f"state changes are disabled: set {service.runtime.spec.api.token_env} and restart")
        if cred is None or not secrets.compare_digest(cred.credentials.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def agent_or_404(name: str) -> str:
        if name not in service.agents:
            raise HTTPException(404, f"no agent named {name!r}; see GET /agents")
        return name

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "agents": len(service.agents)}

    @app.get("/agents", response_model=list[AgentStatusOut])
    async def agents() -> list[dict]:
        return service.snapshot()

    @app.get("/agents/{name}", response_model=AgentStatusOut)
    async def agent(name: str) -> dict:
        agent_or_404(name)
        return next(s for s in service.snapshot() if s["name"] == name)

    @app.get("/agents/{name}/decisions", response_model=list[StepOut])
    async def decisions(name: str, limit: int = Query(20, ge=1, le=500)) -> list[StepOut]:
        agent_or_404(name)
        return [StepOut.of(r) for r in await service.runtime.store.recent(name, limit)]

    @app.post("/agents/{name}/step", status_code=202, response_model=StepStarted, dependencies=[Depends(require_token)])
    async def step(name: str, response: Response) -> StepStarted:
        """Start a step and return at once with its id; follow it at `url` until its status is final."""
        agent_or_404(name)
        started = service.begin_step(name, reason="api")
        if started is None:
            raise HTTPException(409, f"{name} is already stepping; wait for that step (see GET /agents/{name}/decisions)")
        url = f"/agents/{name}/steps/{started[0]}"
        response.headers["Location"] = url
        return StepStarted(id=started[0], agent=name, status="running", url=url)

    @app.get("/agents/{name}/steps/{step_id}", response_model=StepOut | StepStarted)
    async def step_status(name: str, step_id: str, response: Response) -> StepOut | StepStarted:
        agent_or_404(name)
        rec = await service.runtime.store.get(step_id)
        rec = rec if rec is not None and rec.agent == name else None
        task, url = service.started_steps.get(step_id), f"/agents/{name}/steps/{step_id}"
        if task is not None and not task.done():
            response.status_code = 202
            return StepStarted(id=step_id, agent=name, status=rec.status if rec else "running", url=url)
        if rec is not None:
            return StepOut.of(rec)
        if task is not None:  # finished without a record: it failed before planning (chain or model down)
            return StepStarted(id=step_id, agent=name, status="error", url=url, error=task.result())
        raise HTTPException(404, f"no step {step_id!r} for {name}")

    @app.post("/agents/{name}/pause", response_model=AgentStatusOut, dependencies=[Depends(require_token)])
    async def pause(name: str) -> dict:
        service.pause(agent_or_404(name))
        return await agent(name)

    @app.post("/agents/{name}/resume", response_model=AgentStatusOut, dependencies=[Depends(require_token)])
    async def resume(name: str) -> dict:
        service.resume(agent_or_404(name))
        return await agent(name)

    @app.post("/reload", response_model=ReloadOut, dependencies=[Depends(require_token)])
    async def reload() -> ReloadOut:
        try:
            return ReloadOut(changes=await service.reload())
        except SpecError as e:
            raise HTTPException(422, {"message": "reload refused; the running agents are unchanged", "problems": e.problems}) from None
        except ConciliumError as e:
            raise HTTPException(422, f"reload refused; the running agents are unchanged: {e}") from None

    mount_dashboard(app, service)

    @app.get("/committees/{name}/rounds")
    async def committee_rounds(name: str, member: str | None = Query(None), limit: int = Query(20, ge=1, le=500)) -> list[dict]:
        """The rounds recorded by this YAML's committee members whose stores live in this state dir."""
        spec = service.runtime.spec
        try:
            committee = spec.committee(name)
        except KeyError:
            raise HTTPException(404, f"no committee named {name!r} in the YAML") from None
        out = []
        for m in committee.members:
            if member in (None, m.name) and CommitteeStore.path(service.runtime.state_dir, name, m.name).exists():
                store = CommitteeStore.for_member(service.runtime.state_dir, name, m.name)
                try:
                    out += [{"member_name": m.name, **r} for r in await store.export(limit=limit)]
                finally:
                    await store.close()
        return sorted(out, key=lambda r: r["updated_at"], reverse=True)[:limit]

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    return app


async def serve_api(service) -> HttpServer:
    spec = service.runtime.spec.api
    return await HttpServer(build_app(service), spec.host, spec.port or free_port(), "agent service API").start()
