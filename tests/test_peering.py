"""The signed peer exchange, attacked (fast: an in-process ASGI app, no network). The app here
is a minimal group endpoint, as a committee or the oracle builds one on `concilium.peering`."""

import asyncio

import httpx
import pytest
from fastapi import Depends, FastAPI

from concilium.chain.wallets import dev_wallet
from concilium.peering.client import PeerClient
from concilium.peering.envelope import seal
from concilium.peering.guard import PeerGuard, RateLimit
from concilium.peering.server import BodyLimit, PeerCall, authenticate

MEMBERS = [dev_wallet(i) for i in (1, 2, 3)]
OUTSIDER = dev_wallet(7)
REALM = "test-group:31337:0xabc"


def group_app(guard: PeerGuard) -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodyLimit, max_bytes=guard.max_body)
    peer = authenticate(guard)

    @app.post("/v1/commit")
    async def commit(call: PeerCall = Depends(peer)) -> dict:
        return {"from": call.peer, "size": len(call.body)}

    @app.get("/v1/reveal/{n}")
    async def reveal(n: int, call: PeerCall = Depends(peer)) -> dict:
        return {"to": call.peer, "secret": n}

    return app


@pytest.fixture
def guard():
    members = {w.address for w in MEMBERS}

    async def is_member(a: str) -> bool:
        return a in members

    return PeerGuard(REALM, is_member, max_body=1024, rate=RateLimit(per_second=0.5, burst=10))


@pytest.fixture
async def http(guard):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=group_app(guard)), base_url="http://node") as c:
        yield c


def signed(wallet, method, path, body=b"", realm=REALM):
    return seal(wallet, realm, method, path, body).headers()


async def test_a_member_is_served_reads_and_writes(http):
    assert (await http.post("/v1/commit", content=b"{}", headers=signed(MEMBERS[0], "POST", "/v1/commit", b"{}"))).json() == \
        {"from": MEMBERS[0].address, "size": 2}
    r = await http.get("/v1/reveal/5", headers=signed(MEMBERS[1], "GET", "/v1/reveal/5"))
    assert r.status_code == 200 and r.json()["to"] == MEMBERS[1].address


async def test_unsigned_and_unregistered_callers_are_refused_reads_included(http):
    assert (await http.get("/v1/reveal/5")).status_code == 401
    r = await http.get("/v1/reveal/5", headers=signed(OUTSIDER, "GET", "/v1/reveal/5"))
    assert r.status_code == 403 and "not a member" in r.json()["detail"]


async def test_a_replayed_call_is_refused(http):
    h = signed(MEMBERS[0], "POST", "/v1/commit", b"{}")
    assert (await http.post("/v1/commit", content=b"{}", headers=h)).status_code == 200
    r = await http.post("/v1/commit", content=b"{}", headers=h)
    assert r.status_code == 401 and "replayed" in r.json()["detail"]


@pytest.mark.parametrize("forgery", ["other body", "other path", "claims another member", "other realm", "stale", "high s"])
async def test_forged_or_altered_signatures_are_refused(http, forgery):
    h = signed(MEMBERS[0], "POST", "/v1/commit", b"{}")
    body, path = b"{}", "/v1/commit"
    if forgery == "other body":
        body = b'{"x": 1}'
    elif forgery == "other path":
        h = signed(MEMBERS[0], "GET", "/v1/reveal/1")
    elif forgery == "claims another member":
        h["x-peer-address"] = MEMBERS[1].address
    elif forgery == "other realm":
        h = signed(MEMBERS[0], "POST", "/v1/commit", b"{}", realm="another-oracle")
    elif forgery == "stale":
        h["x-peer-timestamp"] = str(int(h["x-peer-timestamp"]) - 120)
    elif forgery == "high s":  # the malleable twin of a valid signature
        sig = bytes.fromhex(h["x-peer-signature"][2:])
        n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
        s = n - int.from_bytes(sig[32:64], "big")
        h["x-peer-signature"] = "0x" + (sig[:32] + s.to_bytes(32, "big") + bytes([55 - sig[64]])).hex()
    r = await http.post(path, content=body, headers=h)
    assert r.status_code == 401, r.text


async def test_an_oversized_or_unsized_body_is_refused_before_it_is_read(http):
    big = b"x" * 5000
    r = await http.post("/v1/commit", content=big, headers=signed(MEMBERS[0], "POST", "/v1/commit", big))
    assert r.status_code == 413

    async def chunks():
        yield b"{}"

    r = await http.post("/v1/commit", content=chunks(), headers=signed(MEMBERS[0], "POST", "/v1/commit", b"{}"))
    assert r.status_code == 411


async def test_a_flooding_member_is_rate_limited_and_others_are_not(http):
    codes = [(await http.get("/v1/reveal/1", headers=signed(MEMBERS[0], "GET", "/v1/reveal/1"))).status_code for _ in range(30)]
    assert codes[:10] == [200] * 10 and codes.count(429) >= 15
    assert (await http.get("/v1/reveal/1", headers=signed(MEMBERS[1], "GET", "/v1/reveal/1"))).status_code == 200


async def test_the_client_signs_every_call(guard):
    from concilium.httpserver import HttpServer
    from concilium.stack.process import free_port

    port = free_port()
    server = await HttpServer(group_app(guard), "127.0.0.1", port).start()
    try:
        client = PeerClient(REALM, MEMBERS[2], [f"http://127.0.0.1:{port}"])
        [r] = await client.post_all("/v1/commit", b'{"c": 1}')
        [g] = await client.get_all("/v1/reveal/9")
        assert r.json() == {"from": MEMBERS[2].address, "size": 8} and g.json()["secret"] == 9
        outsider = PeerClient(REALM, OUTSIDER, client.peers)
        assert (await outsider.get_all("/v1/reveal/9"))[0].status_code == 403
        await asyncio.gather(client.close(), outsider.close())
    finally:
        await server.stop()
