"""Owners' signatures over a SafeTx digest: sign with a member's wallet, recover, and pack a quorum
the way `Safe.checkSignatures` reads it (65-byte r|s|v, owners strictly ascending). Pure.

`pack` never trusts a claimed signer: each signature must recover to the owner it claims, that
owner must be in the Safe's owner set, and one owner counts once. What it drops it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_keys import keys
from eth_utils import to_checksum_address

from concilium.errors import CommitteeError


@dataclass(frozen=True)
class OwnerSignature:
    owner: str
    signature: bytes  # r (32) | s (32) | v (1), v in {27, 28}

    def __post_init__(self):
        object.__setattr__(self, "owner", to_checksum_address(self.owner))
        object.__setattr__(self, "signature", bytes(self.signature))


def sign(wallet, digest: bytes) -> OwnerSignature:
    """Sign the SafeTx digest itself (Safe's plain ECDSA form, v = 27/28)."""
    signed = wallet.unsafe_sign_hash(digest)
    sig = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    return OwnerSignature(wallet.address, sig)


def recover(digest: bytes, signature: bytes) -> str | None:
    """The address that made `signature` over `digest`, or None when it is not a valid ECDSA one."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64] - 27
    try:
        return keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest).to_checksum_address()
    except Exception:  # r or s out of range, no point on the curve: eth_keys raises several types
        return None


@dataclass(frozen=True)
class Quorum:
    packed: bytes
    signers: tuple[str, ...]
    rejected: tuple[str, ...]  # one reason per dropped signature


def pack(signatures: list[OwnerSignature], digest: bytes, owners: list[str], threshold: int) -> Quorum:
    """The first `threshold` valid owner signatures, sorted by owner; CommitteeError when fewer."""
    owner_set = {to_checksum_address(o) for o in owners}
    valid: dict[str, bytes] = {}
    rejected: list[str] = []
    for s in signatures:
        signer = recover(digest, s.signature)
        if signer is None:
            rejected.append(f"{s.owner}: not a valid signature")
        elif signer != s.owner:
            rejected.append(f"{s.owner}: signature is not theirs for this transaction (wrong nonce, Safe, chain or content)")
        elif signer not in owner_set:
            rejected.append(f"{s.owner}: not an owner of the Safe")
        elif signer in valid:
            rejected.append(f"{s.owner}: signed twice, counted once")
        else:
            valid[signer] = s.signature
    if len(valid) < threshold:
        why = "; ".join(rejected) if rejected else "no other signatures"
        raise CommitteeError(f"only {len(valid)} valid owner signature(s), the Safe needs {threshold} ({why})")
    chosen = sorted(valid, key=lambda a: int(a, 16))[:threshold]
    return Quorum(b"".join(valid[o] for o in chosen), tuple(chosen), tuple(rejected))
