"""Oracle nodes exchange signed seals, then reveals (commit-reveal, `concilium.oracle.exchange`), over the signed peer exchange (`concilium.peering`):
every call, reads included, is signed by a node key of the oracle's registry (realm: chain id
and oracle address); answers are accepted only from their own signer and only for requests this
node has seen pending. Revealed values are never pushed: a node that reveals tells its peers so
(`/v1/revealed`), and each fetches them, signed as itself, from a node that serves them only to
peers whose own seal it holds (a node that has not committed, a copier, gets seals only).

    POST /v1/answers                  the caller's own signed answer (JSON) -> 202
    POST /v1/revealed/{request_id}    "I have revealed; fetch from {url}" (JSON) -> 202
    GET  /v1/answers/{request_id}     what this node holds for a pending request, as the caller may see it
    GET  /health, /metrics            operator endpoints (no answers, no keys)

Refusals: 401 unsigned/forged/replayed/stale, 403 not a registered node or not the answer's
signer, 404 a request this node has not seen pending, 411/413 body size, 422 malformed, 429 rate.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from concilium.chain.wallets import Wallet
from concilium.oracle.signing import SignedAnswer
from concilium.peering.client import PeerClient as SignedPeerClient
from concilium.peering.guard import PeerGuard, Refused
from concilium.peering.server import BodyLimit, PeerCall, authenticate

log = logging.getLogger("concilium.oracle.peers")
HEX = r"^0x[0-9a-fA-F]*$"
MAX_BODY = 32 * 1024


def realm(chain_id: int, oracle: str) -> str:
    return f"agent-oracle:{chain_id}:{oracle.lower()}"


class AnswerMessage(BaseModel):
    """A signed answer, or (reason > 0, empty value) a signed unanswerable verdict."""

    request_id: int = Field(ge=1, lt=2**256)
    commitment: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    value: str = Field(pattern=HEX, max_length=2 + 2 * 4096)
    model_id: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    signer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    reason: int = Field(0, ge=0, le=255)
    seal: str = Field("0x", pattern=r"^0x([0-9a-fA-F]{64})?$")  # the signed seal (answers); empty for verdicts
    salt: str = Field("0x", pattern=r"^0x([0-9a-fA-F]{64})?$")  # with `value`, the reveal; empty in the commit phase

    @classmethod
    def of(cls, a: SignedAnswer) -> "AnswerMessage":
        return cls(request_id=a.request_id, commitment="0x" + a.commitment.hex(), value="0x" + a.value.hex(),
                   model_id="0x" + a.model_id.hex(), signature="0x" + a.signature.hex(), signer=a.signer, reason=a.reason,
                   seal="0x" + a.seal.hex(), salt="0x" + a.salt.hex())

    def answer(self) -> SignedAnswer:
        return SignedAnswer(self.request_id, bytes.fromhex(self.commitment[2:]), bytes.fromhex(self.value[2:]),
                            bytes.fromhex(self.model_id[2:]), bytes.fromhex(self.signature[2:]), self.signer, self.reason,
                            bytes.fromhex(self.salt[2:]), bytes.fromhex(self.seal[2:]))


class RevealNotice(BaseModel):
    url: str = Field(max_length=512)  # where the sender serves its reveal (fetched only if a configured peer)


Rejected = Refused  # the node raises it for a bad answer: same statuses as the guard's refusals
Receive = Callable[[SignedAnswer, str], Awaitable[None]]  # (answer, authenticated peer); raises Rejected
Revealed = Callable[[int, str, str], Awaitable[None]]  # (request id, sender's url, authenticated peer); raises Rejected
Held = Callable[[int, str], list[SignedAnswer]]  # (request id, authenticated peer); raises Rejected(404) if not pending
Health = Callable[[], Awaitable[tuple[bool, dict]]]


def peer_app(guard: PeerGuard, receive: Receive, revealed: Revealed, held: Held, health: Health, metrics: Callable[[], bytes],
             on_refused: Callable[[Refused], None] | None = None) -> FastAPI:
    app = FastAPI(title="Concilium oracle node", version="2", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=guard.max_body)
    peer = authenticate(guard, on_refused)

    def refuse(e: Refused) -> HTTPException:
        if on_refused is not None:
            on_refused(e)
        return HTTPException(e.status, str(e))

    @app.get("/health")
    async def get_health() -> JSONResponse:
        ok, body = await health()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def get_metrics() -> Response:
        return Response(metrics(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/answers", status_code=202)
    async def post_answer(call: PeerCall = Depends(peer)) -> dict:
        try:
            msg = AnswerMessage.model_validate_json(call.body)
        except ValidationError as e:
            raise refuse(Refused(422, f"not an answer: {e.errors()[0]['msg']}")) from None
        try:
            await receive(msg.answer(), call.peer)
        except Refused as e:
            raise refuse(e) from None
        return {"accepted": True}

    @app.post("/v1/revealed/{request_id}", status_code=202)
    async def post_revealed(request_id: int, call: PeerCall = Depends(peer)) -> dict:
        try:
            notice = RevealNotice.model_validate_json(call.body)
        except ValidationError as e:
            raise refuse(Refused(422, f"not a reveal notice: {e.errors()[0]['msg']}")) from None
        try:
            await revealed(request_id, notice.url, call.peer)
        except Refused as e:
            raise refuse(e) from None
        return {"accepted": True}

    @app.get("/v1/answers/{request_id}")
    async def get_answers(request_id: int, call: PeerCall = Depends(peer)) -> list[AnswerMessage]:
        try:
            return [AnswerMessage.of(a) for a in held(request_id, call.peer)]
        except Refused as e:
            raise refuse(e) from None

    return app


class PeerClient:
    """This node's side: broadcast its answer, fetch what peers hold, every call signed."""

    def __init__(self, wallet: Wallet, peers: list[str], timeout: float = 5.0):
        self.signed = SignedPeerClient("", wallet, peers, timeout)

    def bind(self, realm_: str) -> None:
        self.signed.realm = realm_

    async def broadcast(self, answer: SignedAnswer) -> int:
        """Send to every peer; returns how many accepted. A down or refusing peer is not an error."""
        body = AnswerMessage.of(answer).model_dump_json().encode()
        accepted = 0
        for peer, r in zip(self.signed.peers, await self.signed.post_all("/v1/answers", body)):
            if r is not None and r.status_code == 202:
                accepted += 1
            elif r is not None and r.status_code != 404:  # 404: the peer has not seen the request yet; it will fetch
                log.warning("peer refused our answer", extra={"peer": peer, "status": r.status_code, "detail": r.text[:200]})
        return accepted

    async def notify_revealed(self, request_id: int, url: str) -> None:
        """Tell every peer this node has revealed (the values are theirs to fetch, if they may)."""
        await self.signed.post_all(f"/v1/revealed/{request_id}", RevealNotice(url=url).model_dump_json().encode())

    async def fetch(self, request_id: int, peer: str | None = None) -> list[SignedAnswer]:
        """What the peers (or the one configured peer at `peer`) hold for the request, as they let this node see it."""
        path = f"/v1/answers/{request_id}"
        peer = peer.rstrip("/") if peer else None
        if peer is not None and peer in self.signed.peers:
            responses = [await self.signed.request(peer, "GET", path)]
        else:
            responses = await self.signed.get_all(path)
        out: list[SignedAnswer] = []
        for r in responses:
            if r is None or r.status_code != 200:
                continue
            try:
                out += [AnswerMessage.model_validate(m).answer() for m in r.json()[:64]]
            except (ValueError, TypeError, ValidationError):
                continue
        return out

    async def close(self) -> None:
        await self.signed.close()
