"""The server side of the peer exchange: who is calling, and may they?

`PeerGuard.check` takes the call as received (method, path, headers, body) and returns the
authenticated member's address, or raises `Refused` with an HTTP status and a reason:
413 body over the cap, 401 missing/stale/replayed/forged signature, 403 not a member,
429 over the member's rate. Nonces are remembered for the clock-skew window, so a captured
call cannot be played again."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

from eth_utils import to_checksum_address

from concilium.peering.envelope import HEADERS, recover

IsMember = Callable[[str], Awaitable[bool]]
NONCE = re.compile(r"^[0-9a-f]{32}$")
SIG = re.compile(r"^0x[0-9a-fA-F]{130}$")
ADDR = re.compile(r"^0x[0-9a-fA-F]{40}$")


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


@dataclass
class RateLimit:
    """A token bucket per member: `burst` calls at once, `per_second` sustained."""

    per_second: float = 20.0
    burst: float = 40.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, who: str) -> bool:
        now = time.monotonic()
        tokens, at = self._buckets.get(who, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_second)
        if tokens < 1:
            self._buckets[who] = (tokens, now)
            return False
        self._buckets[who] = (tokens - 1, now)
        return True


@dataclass
class PeerGuard:
    realm: str
    is_member: IsMember
    max_body: int = 64 * 1024
    max_skew: float = 30.0
    rate: RateLimit = field(default_factory=RateLimit)
    max_nonces: int = 200_000
    _nonces: dict[tuple[str, str], float] = field(default_factory=dict)

    async def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> str:
        if len(body) > self.max_body:
            raise Refused(413, f"body of {len(body)} bytes is over the cap of {self.max_body}")
        address, ts, nonce, sig = (headers.get(h, "") for h in HEADERS)
        if not (ADDR.match(address) and ts.isdigit() and len(ts) < 20 and NONCE.match(nonce) and SIG.match(sig)):
            raise Refused(401, "missing or malformed peer signature headers")
        now = time.time()
        if abs(now - int(ts)) > self.max_skew:
            raise Refused(401, f"timestamp {ts} is more than {self.max_skew:.0f} s from this node's clock")
        signer = recover(self.realm, method, path, int(ts), nonce, body, bytes.fromhex(sig[2:]))
        if signer is None or signer != to_checksum_address(address):
            raise Refused(401, "the signature does not recover to the claimed peer for this call")
        if not await self.is_member(signer):
            raise Refused(403, f"{signer} is not a member of {self.realm}")
        if not self.rate.take(signer):
            raise Refused(429, f"{signer} is over its rate of {self.rate.per_second:g} calls/s")
        self._remember(signer, nonce, now)
        return signer

    def _remember(self, signer: str, nonce: str, now: float) -> None:
        if (signer, nonce) in self._nonces:
            raise Refused(401, "replayed call: this nonce was already used")
        if len(self._nonces) >= self.max_nonces:
            horizon = now - 2 * self.max_skew
            self._nonces = {k: t for k, t in self._nonces.items() if t > horizon}
            if len(self._nonces) >= self.max_nonces:
                raise Refused(429, "too many calls in the replay window")
        self._nonces[(signer, nonce)] = now
