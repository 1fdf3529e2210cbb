"""A Safe on a chain: read its state, check it against what the committee expects, and execute a
quorum's SafeTx exactly once.

`Safe.attach` refuses a Safe that is not what the YAML says (owners, threshold, guard, fallback
handler, modules: a module bypasses any guard in Safe 1.4.1). `execute` checks everything it can
before sending: the nonce the signatures are for, who signed, that the Safe (and its guard) would
accept the call; a refusal is a CommitteeError with one line saying why, and nothing is sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from eth_utils import to_checksum_address
from pydantic import BaseModel, ConfigDict
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.logs import DISCARD

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet
from concilium.committee import reverts
from concilium.committee.safetx import ZERO_ADDRESS, SafeTx, safe_tx_hash
from concilium.committee.signatures import OwnerSignature, Quorum, pack
from concilium.errors import ChainError, CommitteeError

SAFE_ABI = artifact("SafeL2")["abi"]
SUPPORTED_VERSIONS = ("1.3.0", "1.4.1")  # same SafeTx digest and Guard interface
GUARD_SLOT = 0x4A204F620C8C5CCDCA3FD54D003BADD85BA500436A431F0CBDA4F558C93C34C8
FALLBACK_HANDLER_SLOT = 0x6C9A6C4A39284E37ED1CF53D337577D14212A4870FB976A4366C693B939918D5
SENTINEL = "0x0000000000000000000000000000000000000001"


@dataclass(frozen=True)
class SafeState:
    address: str
    chain_id: int
    version: str
    owners: tuple[str, ...]
    threshold: int
    nonce: int
    guard: str
    fallback_handler: str
    modules: tuple[str, ...]


class SafeExpectation(BaseModel):
    """What the committee's YAML says its Safe must be."""

    model_config = ConfigDict(frozen=True)

    owners: list[str]
    threshold: int
    guard: str | None = None              # None: not checked; ZERO_ADDRESS: must have none
    fallback_handler: str | None = None   # None: the Safe must have none


def state_problems(state: SafeState, expect: SafeExpectation) -> list[str]:
    """Every way `state` differs from `expect` (pure)."""
    out = []
    if state.version not in SUPPORTED_VERSIONS:
        out.append(f"Safe version {state.version} is not supported (need one of {', '.join(SUPPORTED_VERSIONS)})")
    want = {to_checksum_address(o) for o in expect.owners}
    have = set(state.owners)
    if missing := sorted(want - have):
        out.append(f"not owners of the Safe: {', '.join(missing)}")
    if extra := sorted(have - want):
        out.append(f"owners the committee does not list: {', '.join(extra)}")
    if state.threshold != expect.threshold:
        out.append(f"threshold is {state.threshold}, the committee says {expect.threshold}")
    if expect.guard is not None and state.guard != to_checksum_address(expect.guard):
        out.append(f"guard is {state.guard}, the committee says {to_checksum_address(expect.guard)}")
    if expect.fallback_handler is not None and state.fallback_handler != to_checksum_address(expect.fallback_handler):
        out.append(f"fallback handler is {state.fallback_handler}, the committee says {to_checksum_address(expect.fallback_handler)}")
    elif expect.fallback_handler is None and state.fallback_handler != ZERO_ADDRESS:
        out.append(f"fallback handler {state.fallback_handler} is not named in the committee's config: if it validates "
                   "EIP-1271 signatures (CompatibilityFallbackHandler does), a quorum can sign around the guard; name it to accept it")
    if state.modules:
        out.append(f"modules are enabled ({', '.join(state.modules)}): a module bypasses the guard; disable them")
    return out


@dataclass(frozen=True)
class Execution:
    tx_hash: str          # the chain transaction
    safe_tx_hash: str     # the SafeTx digest the quorum signed
    nonce: int
    signers: tuple[str, ...]  # empty when found onchain (by_us False)
    gas_used: int
    by_us: bool = True        # False: a peer's submission executed it first


class Safe:
    def __init__(self, chain: ChainClient, address: str):
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract = chain.contract(self.address, SAFE_ABI)

    @classmethod
    async def attach(cls, chain: ChainClient, address: str, expect: SafeExpectation | None = None) -> Safe:
        """The Safe at `address`, checked against `expect` when given."""
        safe = cls(chain, address)
        if not await chain.w3.eth.get_code(safe.address):
            raise CommitteeError(f"no contract at {safe.address}: give the committee's Safe address, or `safe: deploy`")
        if expect is not None:
            if problems := state_problems(await safe.state(), expect):
                raise CommitteeError(f"Safe {safe.address} is not the committee's: " + "; ".join(problems))
        return safe

    async def _slot_address(self, slot: int) -> str:
        raw = await self.chain.w3.eth.get_storage_at(self.address, slot)
        return to_checksum_address(bytes(raw)[-20:])

    async def state(self) -> SafeState:
        f = self.contract.functions
        try:
            version, (owners, threshold, nonce), (modules, _), guard, handler, chain_id = await asyncio.gather(
                f.VERSION().call(), self._signing_state(), f.getModulesPaginated(SENTINEL, 10).call(),
                self._slot_address(GUARD_SLOT), self._slot_address(FALLBACK_HANDLER_SLOT), self.chain.chain_id())
        except (ContractLogicError, Web3RPCError) as e:
            raise CommitteeError(f"{self.address} does not answer like a Safe ({e}); check the address") from None
        return SafeState(self.address, chain_id, version, owners, threshold, nonce, guard, handler,
                         tuple(to_checksum_address(m) for m in modules))

    async def _signing_state(self) -> tuple[tuple[str, ...], int, int]:
        """(owners, threshold, nonce), read concurrently at the same block."""
        f = self.contract.functions
        block = await self.chain.w3.eth.block_number
        owners, threshold, nonce = await asyncio.gather(f.getOwners().call(block_identifier=block),
                                                        f.getThreshold().call(block_identifier=block),
                                                        f.nonce().call(block_identifier=block))
        return tuple(to_checksum_address(o) for o in owners), threshold, nonce

    async def nonce(self) -> int:
        return await self.contract.functions.nonce().call()

    async def build(self, to: str, value: int = 0, data: bytes = b"", **fields) -> SafeTx:
        """A SafeTx at the Safe's current nonce."""
        return SafeTx(to=to, value=value, data=data, nonce=await self.nonce(), **fields)

    async def digest(self, tx: SafeTx) -> bytes:
        """The digest owners sign, computed here (EIP-712) for this chain and Safe."""
        return safe_tx_hash(tx, await self.chain.chain_id(), self.address)

    async def onchain_digest(self, tx: SafeTx) -> bytes:
        """The same digest as the Safe computes it (`getTransactionHash`)."""
        return bytes(await self.contract.functions.getTransactionHash(*tx.hash_args()).call())

    async def quorum(self, tx: SafeTx, signatures: list[OwnerSignature]) -> Quorum:
        """k valid owner signatures for `tx`, packed; CommitteeError if the nonce is not current."""
        owners, threshold, nonce = await self._signing_state()
        if tx.nonce != nonce:
            raise CommitteeError(f"the SafeTx is for nonce {tx.nonce} but the Safe is at nonce {nonce}: "
                                 + ("another transaction used that nonce" if tx.nonce < nonce
                                    else "earlier transactions must execute first"))
        return pack(signatures, await self.digest(tx), list(owners), threshold)

    async def execution_of(self, tx: SafeTx, from_block: int = 0) -> Execution | None:
        """The execution of exactly this SafeTx (by anyone) since `from_block`, if it happened."""
        digest = await self.digest(tx)
        logs = await self.contract.events.ExecutionSuccess.get_logs(argument_filters={"txHash": digest}, from_block=from_block)
        if not logs:
            return None
        receipt = await self.chain.w3.eth.get_transaction_receipt(logs[0]["transactionHash"])
        return Execution(logs[0]["transactionHash"].to_0x_hex(), "0x" + digest.hex(), tx.nonce, (), receipt["gasUsed"],
                         by_us=False)

    async def execute(self, tx: SafeTx, signatures: list[OwnerSignature], submitter: Wallet,
                      since_block: int = 0) -> Execution:
        """Check, then submit `execTransaction` from `submitter` (any account: owners' signatures
        authorise, the submitter only pays gas). Exactly once: if this SafeTx already executed
        (a peer submitted it since `since_block`), that execution is returned and nothing is sent;
        if another SafeTx took its nonce, CommitteeError."""
        if tx.nonce < await self.nonce():
            if done := await self.execution_of(tx, since_block):
                return done
        q = await self.quorum(tx, signatures)
        call = {"from": submitter.address, "to": self.address,
                "data": self.contract.encode_abi("execTransaction", args=list(tx.exec_args(q.packed)))}
        await self.preflight(call)
        try:
            receipt = await self.chain.transact(submitter, {"to": call["to"], "data": call["data"]}, "execTransaction")
        except ChainError as e:
            if await self.nonce() > tx.nonce:  # lost a race
                if done := await self.execution_of(tx, since_block):
                    return done
                raise CommitteeError(f"nonce {tx.nonce} was used by another transaction meanwhile; nothing more was sent") from None
            raise CommitteeError(f"execTransaction failed: {e}") from None
        if not self.contract.events.ExecutionSuccess().process_receipt(receipt, errors=DISCARD):
            raise CommitteeError(f"execTransaction {receipt['transactionHash'].to_0x_hex()} emitted no ExecutionSuccess")
        return Execution(receipt["transactionHash"].to_0x_hex(), "0x" + (await self.digest(tx)).hex(), tx.nonce,
                         q.signers, receipt["gasUsed"])

    async def preflight(self, call: dict) -> None:
        """eth_call the exact execTransaction: a revert becomes a one-line CommitteeError."""
        try:
            await self.chain.w3.eth.call(call, "pending")
        except ContractCustomError as e:
            raise CommitteeError(f"the Safe would refuse: {reverts.explain(e.data)}") from None
        except ContractLogicError as e:
            raise CommitteeError(f"the Safe would refuse: {reverts.explain(e.data) if e.data else e.message}") from None
        except Web3RPCError as e:
            raise CommitteeError(f"the node refused execTransaction: {e.message or e}") from None


__all__ = ["Execution", "Safe", "SafeExpectation", "SafeState", "state_problems"]
