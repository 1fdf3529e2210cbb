"""The local deployment of a committee's Safe, from the audited Safe 1.4.1 bytecode published on
npm (copied into concilium/artifacts by scripts/compile-contracts.js): the SafeL2 singleton, the
proxy factory, a fallback handler, then a Safe proxy (owners = members, threshold k) and its
CommitteeGuard, installed by the owners' own first SafeTx.

The fallback handler is TokenCallbackHandler: it lets the Safe receive ERC-721/1155 but does not
implement EIP-1271 `isValidSignature`, so no quorum can sign in the Safe's name off-chain (a
Permit2 transfer, say) around the guard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from eth_utils import to_checksum_address
from web3.logs import DISCARD

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.deploy import deploy
from concilium.chain.wallets import Wallet
from concilium.committee.guard import GuardConfig
from concilium.committee.safe import Safe, SafeExpectation
from concilium.committee.safetx import ZERO_ADDRESS
from concilium.committee.signatures import sign
from concilium.errors import CommitteeError


@dataclass(frozen=True)
class SafeSingletons:
    singleton: str
    factory: str
    fallback_handler: str


async def deploy_singletons(chain: ChainClient, deployer: Wallet) -> SafeSingletons:
    return SafeSingletons(await deploy(chain, deployer, "SafeL2"), await deploy(chain, deployer, "SafeProxyFactory"),
                          await deploy(chain, deployer, "TokenCallbackHandler"))


async def create_safe(chain: ChainClient, deployer: Wallet, singletons: SafeSingletons, owners: list[str],
                      threshold: int, salt: int | None = None) -> Safe:
    """A new Safe proxy with `owners` and `threshold`, no modules, TokenCallbackHandler."""
    if not 1 <= threshold <= len(owners):
        raise CommitteeError(f"threshold {threshold} must be between 1 and the number of members ({len(owners)})")
    owners = [to_checksum_address(o) for o in owners]
    safe_abi = artifact("SafeL2")["abi"]
    initializer = chain.w3.eth.contract(abi=safe_abi).encode_abi(
        "setup", args=[owners, threshold, ZERO_ADDRESS, b"", singletons.fallback_handler, ZERO_ADDRESS, 0, ZERO_ADDRESS])
    factory = chain.contract(singletons.factory, artifact("SafeProxyFactory")["abi"])
    salt = int.from_bytes(os.urandom(8), "big") if salt is None else salt
    data = factory.encode_abi("createProxyWithNonce", args=[singletons.singleton, initializer, salt])
    receipt = await chain.transact(deployer, {"to": factory.address, "data": data}, "creating the committee's Safe")
    (created,) = factory.events.ProxyCreation().process_receipt(receipt, errors=DISCARD)
    return await Safe.attach(chain, created["args"]["proxy"],
                             SafeExpectation(owners=owners, threshold=threshold, guard=ZERO_ADDRESS,
                                             fallback_handler=singletons.fallback_handler))


async def deploy_guard(chain: ChainClient, deployer: Wallet, safe: Safe, config: GuardConfig) -> str:
    return await deploy(chain, deployer, "CommitteeGuard", *config.constructor_args(safe.address))


async def install_guard(safe: Safe, guard: str, members: list[Wallet], submitter: Wallet) -> None:
    """The members' SafeTx `setGuard(guard)`: needs a quorum like any other (before a guard exists,
    this is the only step not bounded by one)."""
    tx = await safe.build(safe.address, data=bytes.fromhex(safe.contract.encode_abi("setGuard", args=[guard])[2:]))
    digest = await safe.digest(tx)
    await safe.execute(tx, [sign(m, digest) for m in members], submitter)


@dataclass(frozen=True)
class CommitteeSafe:
    safe: Safe
    guard: str
    singletons: SafeSingletons


async def deploy_committee_safe(chain: ChainClient, deployer: Wallet, members: list[Wallet], threshold: int,
                                config: GuardConfig, singletons: SafeSingletons | None = None) -> CommitteeSafe:
    """Singletons (unless given), a Safe owned by `members` with `threshold`, its guard installed."""
    singletons = singletons or await deploy_singletons(chain, deployer)
    safe = await create_safe(chain, deployer, singletons, [m.address for m in members], threshold)
    guard = await deploy_guard(chain, deployer, safe, config)
    await install_guard(safe, guard, members[:threshold], deployer)
    await Safe.attach(chain, safe.address, SafeExpectation(owners=[m.address for m in members], threshold=threshold,
                                                           guard=guard, fallback_handler=singletons.fallback_handler))
    return CommitteeSafe(safe, guard, singletons)


__all__ = ["CommitteeSafe", "SafeSingletons", "create_safe", "deploy_committee_safe", "deploy_guard",
           "deploy_singletons", "install_guard"]
