"""Nodes exchange signed answers over HTTP. A peer is authenticated by its answer's EIP-712
signature recovering to a registered node, not by its network address.

    POST /v1/answers                  one signed answer (JSON) -> 202, 401 bad signature, 403 unknown signer
    GET  /v1/answers/{request_id}     every valid answer this node holds for the request
    GET  /health
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from concilium.oracle.signing import SignedAnswer

log = logging.getLogger("concilium.oracle.peers")
HEX = r"^0x[0-9a-fA-F]*$"


class AnswerMessage(BaseModel):
    """A signed answer, or (reason > 0, empty value) a signed unanswerable verdict."""

    request_id: int = Field(ge=1, lt=2**256)
    commitment: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    value: str = Field(pattern=HEX, max_length=2 + 2 * 4096)
    model_id: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    signer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    reason: int = Field(0, ge=0, le=255)

    @classmethod
    def of(cls, a: SignedAnswer) -> "AnswerMessage":
        return cls(request_id=a.request_id, commitment="0x" + a.commitment.hex(), value="0x" + a.value.hex(),
                   model_id="0x" + a.model_id.hex(), signature="0x" + a.signature.hex(), signer=a.signer, reason=a.reason)

    def answer(self) -> SignedAnswer:
        return SignedAnswer(self.request_id, bytes.fromhex(self.commitment[2:]), bytes.fromhex(self.value[2:]),
                            bytes.fromhex(self.model_id[2:]), bytes.fromhex(self.signature[2:]), self.signer, self.reason)


class Rejected(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


Receive = Callable[[SignedAnswer], Awaitable[None]]  # raises Rejected
Held = Callable[[int], list[SignedAnswer]]


def peer_app(node_address: str, receive: Receive, held: Held) -> FastAPI:
    app = FastAPI(title="Concilium oracle node", version="1", docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict:
        return {"ok": True, "node": node_address}

    @app.post("/v1/answers", status_code=202)
    async def post_answer(msg: AnswerMessage) -> dict:
        try:
            await receive(msg.answer())
        except Rejected as e:
            raise HTTPException(e.status, str(e)) from None
        return {"accepted": True}

    @app.get("/v1/answers/{request_id}")
    async def get_answers(request_id: int) -> list[AnswerMessage]:
        return [AnswerMessage.of(a) for a in held(request_id)]

    return app


class PeerClient:
    def __init__(self, peers: list[str], timeout: float = 5.0):
        self.peers = [p.rstrip("/") for p in peers]
        self.http = httpx.AsyncClient(timeout=timeout)

    async def broadcast(self, answer: SignedAnswer) -> int:
        """Send to every peer; returns how many accepted. A down peer is not an error."""
        body = AnswerMessage.of(answer).model_dump()
        results = await asyncio.gather(*(self._post(p, body) for p in self.peers))
        return sum(results)

    async def _post(self, peer: str, body: dict) -> bool:
        try:
            r = await self.http.post(f"{peer}/v1/answers", json=body)
            if r.status_code != 202:
                log.warning("peer refused our answer", extra={"peer": peer, "status": r.status_code, "detail": r.text[:200]})
            return r.status_code == 202
        except httpx.HTTPError:
            return False

    async def fetch(self, request_id: int) -> list[SignedAnswer]:
        async def one(peer: str) -> list[SignedAnswer]:
            try:
                r = await self.http.get(f"{peer}/v1/answers/{request_id}")
                return [AnswerMessage.model_validate(m).answer() for m in r.json()] if r.status_code == 200 else []
            except (httpx.HTTPError, ValueError):
                return []

        return [a for batch in await asyncio.gather(*(one(p) for p in self.peers)) for a in batch]

    async def close(self) -> None:
        await self.http.aclose()
