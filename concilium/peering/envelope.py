"""What a peer signs for each HTTP call, and how a server recovers who signed it.

    digest = keccak("concilium-peer/1" | realm | method | path | timestamp | nonce | keccak(body))

`realm` names the group (an oracle on a chain, a committee's Safe), so a signature made for one
group is worthless to another; the nonce and timestamp make each signature good for one call."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak

from concilium.chain.wallets import Wallet

TAG = b"concilium-peer/1"
HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
HEADERS = ("x-peer-address", "x-peer-timestamp", "x-peer-nonce", "x-peer-signature")


@dataclass(frozen=True)
class Envelope:
    address: str
    timestamp: int
    nonce: str  # 32 hex chars
    signature: bytes

    def headers(self) -> dict[str, str]:
        return dict(zip(HEADERS, (self.address, str(self.timestamp), self.nonce, "0x" + self.signature.hex())))


def digest(realm: str, method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    parts = [TAG, realm.encode(), method.upper().encode(), path.encode(), str(timestamp).encode(), nonce.encode(), keccak(body)]
    return keccak(b"\x00".join(parts))


def seal(wallet: Wallet, realm: str, method: str, path: str, body: bytes = b"") -> Envelope:
    ts, nonce = int(time.time()), secrets.token_hex(16)
    sig = wallet.unsafe_sign_hash(digest(realm, method, path, ts, nonce, body))
    return Envelope(wallet.address, ts, nonce, sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v]))


def recover(realm: str, method: str, path: str, timestamp: int, nonce: str, body: bytes, signature: bytes) -> str | None:
    """The signer's checksum address, or None for a malformed or malleable signature."""
    if len(signature) != 65 or signature[64] not in (27, 28) or int.from_bytes(signature[32:64], "big") > HALF_N:
        return None
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64] - 27
    try:
        key = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest(realm, method, path, timestamp, nonce, body))
    except (BadSignature, ValidationError):
        return None
    return key.to_checksum_address()
