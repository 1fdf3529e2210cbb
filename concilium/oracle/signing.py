"""EIP-712 answers, byte for byte as AgentOracle checks them: domain (name "AgentOracle",
version "1", chain id, oracle address) and Answer(requestId, keccak(value), modelId)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak, to_checksum_address

from concilium.chain.wallets import Wallet

DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
ANSWER_TYPEHASH = keccak(text="Answer(uint256 requestId,bytes32 answerHash,bytes32 modelId)")
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


@dataclass(frozen=True)
class Domain:
    chain_id: int
    oracle: str

    def separator(self) -> bytes:
        return keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                             [DOMAIN_TYPEHASH, keccak(text="AgentOracle"), keccak(text="1"), self.chain_id, to_checksum_address(self.oracle)]))

    def digest(self, request_id: int, value: bytes, model_id: bytes) -> bytes:
        struct = keccak(encode(["bytes32", "uint256", "bytes32", "bytes32"], [ANSWER_TYPEHASH, request_id, keccak(value), model_id]))
        return keccak(b"\x19\x01" + self.separator() + struct)


@dataclass(frozen=True)
class SignedAnswer:
    request_id: int
    value: bytes
    model_id: bytes
    signature: bytes
    signer: str

    def as_tuple(self) -> tuple[bytes, bytes, bytes]:
        """The Answer struct as `fulfill` takes it."""
        return (self.value, self.model_id, self.signature)


def sign_answer(wallet: Wallet, domain: Domain, request_id: int, value: bytes, model_id: bytes) -> SignedAnswer:
    sig = wallet.unsafe_sign_hash(domain.digest(request_id, value, model_id))
    signature = sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v])
    return SignedAnswer(request_id, value, model_id, signature, wallet.address)


def recover_signer(domain: Domain, request_id: int, value: bytes, model_id: bytes, signature: bytes) -> str | None:
    """The address that signed, or None for a malformed or malleable signature (as the contract)."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    if int.from_bytes(signature[32:64], "big") > SECP256K1_HALF_N:
        return None
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64] - 27
    try:
        key = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(domain.digest(request_id, value, model_id))
    except (BadSignature, ValidationError):
        return None
    return key.to_checksum_address()
