"""EIP-712 typed data, byte for byte as AgentOracle checks it.

Domain: name "AgentOracle", version "3", chain id, oracle address. A request is bound by its
commitment, the struct hash of

    Request(uint256 requestId,address consumer,bytes32 promptHash,uint8 kind,bytes32 optionsHash,
            bytes32 modelId,uint64 deadline,uint96 fee,uint32 callbackGasLimit,uint32 epoch)

which a node recomputes from the `Requested` event it evaluated. Nodes sign either

    Commit(bytes32 commitment,bytes32 seal,bytes32 modelId)        seal = keccak256(abi.encode(
                                                                   keccak256(value), salt, node, commitment))
    Unanswerable(bytes32 commitment,uint8 reason,bytes32 modelId)

so a signature is good for one question's content, on one chain, at one oracle, only. A signed
seal hides the answer until its (value, salt) is revealed and binds the node's address, so a peer
cannot reuse it. `fulfil_report` builds `fulfill`'s argument (every entry, sorted by signer);
`slash_evidence` the argument of `slash` from one of two conflicting seals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any, Iterable, Mapping

from eth_abi import encode
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak, to_checksum_address

from concilium.chain.wallets import Wallet

DOMAIN_NAME, DOMAIN_VERSION = "AgentOracle", "3"
DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
REQUEST_TYPEHASH = keccak(text="Request(uint256 requestId,address consumer,bytes32 promptHash,uint8 kind,bytes32 optionsHash,"
                               "bytes32 modelId,uint64 deadline,uint96 fee,uint32 callbackGasLimit,uint32 epoch)")
COMMIT_TYPEHASH = keccak(text="Commit(bytes32 commitment,bytes32 seal,bytes32 modelId)")
UNANSWERABLE_TYPEHASH = keccak(text="Unanswerable(bytes32 commitment,uint8 reason,bytes32 modelId)")
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


class Reason(IntEnum):
    """Why a node cannot answer (IAgentOracle.Reason). 0 means: this is an answer, not a verdict."""

    NONE = 0
    PROMPT_REJECTED = 1  # the model refused, or the prompt is empty or unreadable
    PROMPT_TOO_LONG = 2  # beyond the model's context window
    MODEL_ERROR = 3  # the model server failed on this prompt
    BAD_OPTIONS = 4  # the options cannot be decoded for this kind
    MODEL_NOT_SERVED = 5  # the request pins a model this node does not serve


@dataclass(frozen=True)
class RequestTerms:
    """What a request binds, as the contract hashes it into its commitment."""

    request_id: int
    consumer: str
    prompt_hash: bytes
    kind: int
    options_hash: bytes
    model_id: bytes
    deadline: int
    fee: int
    callback_gas_limit: int
    epoch: int

    @classmethod
    def of(cls, request_id: int, consumer: str, prompt: str | bytes, kind: int, options: bytes, model_id: bytes,
           deadline: int, fee: int, callback_gas_limit: int, epoch: int) -> "RequestTerms":
        raw = prompt.encode("utf-8", "surrogateescape") if isinstance(prompt, str) else prompt
        return cls(request_id, consumer, keccak(raw), int(kind), keccak(options), bytes(model_id), deadline, fee,
                   callback_gas_limit, epoch)

    @classmethod
    def from_event(cls, args: Mapping[str, Any], prompt: str | bytes | None = None) -> "RequestTerms":
        """From a decoded `Requested` event (pass the raw prompt bytes when the text did not decode)."""
        r = args["request"]
        return cls.of(int(args["requestId"]), r["consumer"], args["prompt"] if prompt is None else prompt, int(r["kind"]),
                      bytes(args["options"]), bytes(r["modelId"]), int(r["deadline"]), int(r["fee"]),
                      int(r["callbackGasLimit"]), int(r["epoch"]))

    def commitment(self) -> bytes:
        return keccak(encode(
            ["bytes32", "uint256", "address", "bytes32", "uint8", "bytes32", "bytes32", "uint64", "uint96", "uint32", "uint32"],
            [REQUEST_TYPEHASH, self.request_id, to_checksum_address(self.consumer), self.prompt_hash, self.kind,
             self.options_hash, self.model_id, self.deadline, self.fee, self.callback_gas_limit, self.epoch]))


@dataclass(frozen=True)
class Domain:
    chain_id: int
    oracle: str

    def separator(self) -> bytes:
        return keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                             [DOMAIN_TYPEHASH, keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION), self.chain_id,
                              to_checksum_address(self.oracle)]))

    def commit_digest(self, commitment: bytes, seal: bytes, model_id: bytes) -> bytes:
        return self._digest(encode(["bytes32", "bytes32", "bytes32", "bytes32"], [COMMIT_TYPEHASH, commitment, seal, model_id]))

    def verdict_digest(self, commitment: bytes, reason: int, model_id: bytes) -> bytes:
        return self._digest(encode(["bytes32", "bytes32", "uint8", "bytes32"], [UNANSWERABLE_TYPEHASH, commitment, int(reason), model_id]))

    def _digest(self, struct: bytes) -> bytes:
        return keccak(b"\x19\x01" + self.separator() + keccak(struct))


def seal_of(value: bytes, salt: bytes, node: str, commitment: bytes) -> bytes:
    """What a node signs instead of its answer: the answer hidden under its salt, bound to the node."""
    return keccak(encode(["bytes32", "bytes32", "address", "bytes32"], [keccak(value), salt, to_checksum_address(node), commitment]))


@dataclass(frozen=True)
class SignedAnswer:
    """A node's signed seal over its answer to one request with (when revealed) the value and salt
    that open it, or (reason != 0) its signed verdict that the request cannot be answered (a
    verdict has no value, salt or seal). A commit-only entry has an empty value and salt."""

    request_id: int
    commitment: bytes
    value: bytes
    model_id: bytes
    signature: bytes
    signer: str
    reason: int = 0
    salt: bytes = b""
    seal: bytes = b""

    @property
    def unanswerable(self) -> bool:
        return self.reason != 0

    @property
    def revealed(self) -> bool:
        return len(self.salt) == 32

    def reveal_matches(self) -> bool:
        """The reveal opens the seal (what the contract pays for)."""
        return self.revealed and self.seal == seal_of(self.value, self.salt, self.signer, self.commitment)

    def commit_only(self) -> "SignedAnswer":
        """The same signed seal without the reveal (what is sent in the commit phase)."""
        return replace(self, value=b"", salt=b"")

    def digest(self, domain: Domain) -> bytes:
        if self.unanswerable:
            return domain.verdict_digest(self.commitment, self.reason, self.model_id)
        return domain.commit_digest(self.commitment, self.seal, self.model_id)

    def as_tuple(self) -> tuple:
        """The Answer (or Verdict) struct as `fulfill` (or `settleUnanswerable`) takes it."""
        if self.unanswerable:
            return (self.reason, self.model_id, self.signature)
        return (self.seal, self.model_id, self.signature, self.value if self.revealed else b"",
                self.salt if self.revealed else bytes(32))


def fulfil_report(answers: Iterable[SignedAnswer]) -> list[tuple]:
    """`fulfill`'s second argument: one entry per signer (first held), ascending signer order."""
    by_signer: dict[int, SignedAnswer] = {}
    for a in answers:
        if a.unanswerable:
            raise ValueError("a verdict is not a fulfil entry")
        by_signer.setdefault(int(a.signer, 16), a)
    return [by_signer[k].as_tuple() for k in sorted(by_signer)]


def slash_evidence(a: SignedAnswer) -> tuple:
    """One half of `slash`'s evidence: (commitment, seal, modelId, signature)."""
    return (a.commitment, a.seal, a.model_id, a.signature)


def _sign(wallet: Wallet, digest: bytes) -> bytes:
    sig = wallet.unsafe_sign_hash(digest)
    return sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v])


def sign_answer(wallet: Wallet, domain: Domain, request_id: int, commitment: bytes, value: bytes, model_id: bytes,
                salt: bytes | None = None) -> SignedAnswer:
    """Seal `value` under a fresh random salt (or the one given) and sign the seal; the result holds the reveal."""
    salt = os.urandom(32) if salt is None else salt
    if len(salt) != 32:
        raise ValueError("a salt is 32 bytes")
    seal = seal_of(value, salt, wallet.address, commitment)
    return SignedAnswer(request_id, commitment, value, model_id, _sign(wallet, domain.commit_digest(commitment, seal, model_id)),
                        wallet.address, 0, salt, seal)


def sign_verdict(wallet: Wallet, domain: Domain, request_id: int, commitment: bytes, reason: Reason | int,
                 model_id: bytes) -> SignedAnswer:
    if not 0 < int(reason) <= max(Reason):
        raise ValueError(f"not an unanswerable reason: {reason!r}")
    return SignedAnswer(request_id, commitment, b"", model_id, _sign(wallet, domain.verdict_digest(commitment, reason, model_id)),
                        wallet.address, int(reason))


def recover_signer(domain: Domain, answer: SignedAnswer) -> str | None:
    """The address that signed, or None for a malformed or malleable signature (as the contract)."""
    signature = answer.signature
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    if answer.unanswerable and answer.reason > max(Reason):
        return None
    if not answer.unanswerable and len(answer.seal) != 32:
        return None
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64] - 27
    if s > SECP256K1_HALF_N:
        return None
    try:
        key = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(answer.digest(domain))
    except (BadSignature, ValidationError):
        return None
    return key.to_checksum_address()
