"""The dashboard: one page and its assets, shipped in the package (no build step, no CDN),
served by the service's API under /dashboard. It polls GET /dashboard/state, which gathers
agents (status, schedule, next run, which instance holds each), the decision timeline, refusals
by rule, and oracle rounds found in the same database. Read-only: it calls no endpoint that
needs the token. Everything shown comes from chain data or a model and is rendered as text.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

from concilium.db import store_errors

ASSETS = Path(__file__).resolve().parent / "assets"
FILES = {"index.html": "text/html", "dashboard.js": "text/javascript", "dashboard.css": "text/css"}
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"
STEP_FIELDS = ("id", "agent", "created_at", "status", "action", "args", "reason", "rule", "verdict", "summary",
               "model_name", "tx_hash", "block_number", "error")


def _step(rec) -> dict[str, Any]:
    d = rec.as_dict()
    out = {k: d.get(k) for k in STEP_FIELDS}
    if d.get("flows"):  # present once the guard records simulated flows
        out["flows"] = d["flows"]
    return out


def _round(r) -> dict[str, Any]:
    d = r.as_dict()
    answers = [{"node": node, "value": a.get("value"), "model_id": a.get("model_id")} for node, a in (d.get("peer_answers") or {}).items()]
    mine = d.get("my_answer") or {}
    return {"request_id": d["request_id"], "node": d["node"], "status": d["status"], "kind": d["kind"],
            "prompt": (d["prompt"] or "")[:200], "model_id": d.get("model_id"), "my_answer": mine.get("readable", mine.get("value")),
            "answers": answers, "result": d.get("result"), "fulfil_tx": d.get("fulfil_tx"), "updated_at": d["updated_at"]}


async def oracle_rounds(url: str, limit: int = 20) -> list[dict[str, Any]]:
    """Rounds an oracle node recorded in this database (none if no node writes here)."""
    from sqlalchemy import inspect

    from concilium.oracle.store import OracleStore

    store = OracleStore(url, migrate=False)
    try:
        async with store.engine.connect() as conn:
            if not await conn.run_sync(lambda c: inspect(c).has_table("oracle_rounds")):
                return []
        return [_round(r) for r in await store.rounds(limit=limit)]
    finally:
        await store.close()


def mount_dashboard(app: FastAPI, service) -> None:
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
               "X-Frame-Options": "DENY", "Cache-Control": "no-store"}

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    @app.get("/dashboard/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(ASSETS / "index.html", media_type=FILES["index.html"], headers=headers)

    @app.get("/dashboard/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in FILES:  # a fixed list: no path from the request reaches the file system
            raise HTTPException(404, "no such asset")
        return FileResponse(ASSETS / name, media_type=FILES[name], headers=headers)

    @app.get("/dashboard/state")
    async def state(limit: int = 100) -> dict[str, Any]:
        """Everything the page shows, in one read."""
        store = service.runtime.store
        limit = max(1, min(limit, 500))
        async with store_errors(store.url, "read the dashboard's state"):
            holders = await service.leases.holders()
            steps = [_step(r) for r in await store.recent(None, limit)]
            refusals = await store.refusals_by_rule()
            rounds = await oracle_rounds(store.url)
        agents = service.snapshot()
        for a in agents:
            a["holder"] = holders.get(a["name"])
            a["here"] = a["name"] in service.leases.held
        return {"now": time.time(), "instance": service.instance, "agents": agents, "steps": steps,
                "refusals": refusals, "oracle_rounds": rounds}
