"""Committee members talk over the signed peer exchange (`concilium.peering`): every call is
signed by a member's key and accepted only from an owner the committee lists (realm: chain id and
Safe address, so a call made for one committee is worthless to another). A message must also name
its own sender as `member`: nobody speaks for another member.

    POST /v1/commits      Commit          -> 202   (409: a second, different commitment)
    POST /v1/reveals      Reveal          -> 202   (409: no commitment held, or it does not open it)
    POST /v1/signatures   SafeSignature   -> 202
    GET  /health, /metrics, /rounds?limit=N   operator endpoints: liveness, Prometheus counters,
                                              this member's trail of finished stages (no keys)

Refusals: 401 unsigned/forged/replayed/stale, 403 not a member or not the message's member,
409 as above, 410 a round too old or too far ahead, 411/413 body size, 422 malformed, 429 rate.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from concilium.chain.wallets import Wallet
from concilium.committee.messages import Commit, Reveal, SafeSignature
from concilium.peering.client import PeerClient
from concilium.peering.guard import PeerGuard, Refused
from concilium.peering.server import BodyLimit, PeerCall, authenticate

log = logging.getLogger("concilium.committee.peers")
MAX_BODY = 16 * 1024
ROUTES: dict[str, type[BaseModel]] = {"commits": Commit, "reveals": Reveal, "signatures": SafeSignature}

Receive = Callable[[BaseModel], Awaitable[None]]  # raises Refused


def realm(chain_id: int, safe: str) -> str:
    return f"committee:{chain_id}:{safe.lower()}"


def member_app(guard: PeerGuard, receive: Receive, health: Callable[[], dict], metrics: Callable[[], bytes],
               rounds: Callable[[int], Awaitable[list[dict]]]) -> FastAPI:
    app = FastAPI(title="Concilium committee member", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=guard.max_body)
    peer = authenticate(guard)

    @app.get("/health")
    async def get_health() -> dict:
        return health()

    @app.get("/metrics")
    async def get_metrics() -> Response:
        return Response(metrics(), media_type="text/plain; version=0.0.4")

    @app.get("/rounds")
    async def get_rounds(limit: int = Query(20, ge=1, le=500)) -> list[dict]:
        return await rounds(limit)

    def route(kind: str, model: type[BaseModel]) -> None:
        @app.post(f"/v1/{kind}", status_code=202, name=kind)
        async def post(call: PeerCall = Depends(peer)) -> dict:
            try:
                msg = model.model_validate_json(call.body)
            except ValidationError as e:
                raise HTTPException(422, f"not a {kind[:-1]}: {e.errors()[0]['msg']}") from None
            if msg.member != call.peer:
                raise HTTPException(403, f"{call.peer} may not speak for {msg.member}")
            try:
                await receive(msg)
            except Refused as e:
                raise HTTPException(e.status, str(e)) from None
            return {"accepted": True}

    for kind, model in ROUTES.items():
        route(kind, model)
    return app


class MemberClient:
    """This member's side: send one message to every peer, every call signed by its key."""

    def __init__(self, realm_: str, wallet: Wallet, peers: list[str], timeout: float = 5.0):
        self.signed = PeerClient(realm_, wallet, peers, timeout)

    async def send(self, msg: BaseModel) -> int:
        """How many peers accepted it; a down or refusing peer is logged, never an error."""
        kind = next(k for k, m in ROUTES.items() if isinstance(msg, m))
        accepted = 0
        for peer, r in zip(self.signed.peers, await self.signed.post_all(f"/v1/{kind}", msg.model_dump_json().encode())):
            if r is not None and r.status_code == 202:
                accepted += 1
            elif r is not None:
                log.warning("peer refused our %s: %s %s", kind, r.status_code, r.text[:200], extra={"peer": peer, "kind": kind, "status": r.status_code,
                                                                "detail": r.text[:200]})
        return accepted

    async def close(self) -> None:
        await self.signed.close()
