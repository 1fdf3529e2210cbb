"""ChainClient: one chain's AsyncWeb3 with failover, nonces, fees, simulation and receipts.

Sending is split so that the caller can persist the signed transaction before it is broadcast:
`send(wallet, tx, before_broadcast)` signs under the account's nonce lock, awaits
`before_broadcast(signed)`, then broadcasts. A restart can rebroadcast the same raw bytes (same
hash), so a decision never becomes two transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import Web3RPCError

from concilium.chain.fees import Fees, suggest_fees
from concilium.chain.nonces import NonceManager
from concilium.chain.receipts import receipt_if_mined, wait_for_receipt
from concilium.chain.rpc import connect
from concilium.chain.prepare import prepare
from concilium.chain.simulate import Simulation, Simulator, call_only
from concilium.chain.wallets import Wallet
from concilium.errors import ChainError, TxRejected


@dataclass(frozen=True)
class SignedTx:
    hash: str
    raw: str
    nonce: int
    sender: str


class ChainClient:
    def __init__(self, urls: list[str], confirmations: int = 0, receipt_timeout: float = 120.0):
        self.w3: AsyncWeb3 = connect(urls)
        self.nonces = NonceManager(self.w3)
        self.confirmations = confirmations
        self.receipt_timeout = receipt_timeout
        self._chain_id: int | None = None
        self.simulator = Simulator(self.w3)

    async def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(await self.w3.eth.chain_id)
        return self._chain_id

    def contract(self, address: str, abi: list[dict[str, Any]]):
        return self.w3.eth.contract(address=to_checksum_address(address), abi=abi)

    async def fees(self, cap: int | None = None) -> Fees:
        return await suggest_fees(self.w3, cap)

    async def simulate(self, tx: dict) -> Simulation:
        """Plain dry run (eth_call + estimate): reverts and gas, no effects."""
        return await call_only(self.w3, tx)

    async def simulate_effects(self, tx: dict, watch: tuple[str, ...] = ()) -> Simulation:
        """The exact transaction traced (eth_simulateV1 or debug_traceCall): reverts, gas, logs,
        and the sender's balance of each `watch` token before and after."""
        return await self.simulator.run(tx, watch)

    async def prepare(self, tx: dict, sender: str, gas_used: int | None = None, fee_cap: int | None = None,
                      extra: int | None = None) -> dict:
        return await prepare(self.w3, tx, sender, gas_used, fee_cap, **({} if extra is None else {"extra": extra}))

    async def send(self, wallet: Wallet, tx: dict, before_broadcast: Callable[[SignedTx], Awaitable[None]] | None = None) -> SignedTx:
        """Fill chain id and nonce, sign, let the caller record, broadcast."""
        base = {"from": wallet.address, "chainId": await self.chain_id(), "value": 0, **tx}
        async with self.nonces.next(wallet.address) as nonce:
            signed = wallet.sign_transaction({**base, "nonce": nonce})
            st = SignedTx(HexBytes(signed.hash).to_0x_hex(), HexBytes(signed.raw_transaction).to_0x_hex(), nonce, wallet.address)
            if before_broadcast is not None:
                await before_broadcast(st)
            await self.broadcast(st.raw)
        return st

    async def transact(self, wallet: Wallet, tx: dict, what: str = "transaction"):
        """Simulate, price, sign, send and wait: the plain path for setup and operator calls
        (agents go through their guard and records instead). Returns the receipt."""
        sim = await self.simulate({"from": wallet.address, **tx})
        if not sim.ok:
            raise ChainError(f"{what} would fail: {sim.error}")
        signed = await self.send(wallet, await self.prepare(tx, wallet.address, sim.gas))
        receipt = await self.wait(signed.hash)
        if receipt["status"] != 1:
            raise ChainError(f"{what} reverted (tx {signed.hash})")
        return receipt

    async def broadcast(self, raw: str) -> str:
        """Send raw bytes; a node that already has this exact transaction is not an error."""
        try:
            return HexBytes(await self.w3.eth.send_raw_transaction(HexBytes(raw))).to_0x_hex()
        except Web3RPCError as e:
            msg = (e.message or str(e)).lower()
            if "already known" in msg or "already imported" in msg:
                return HexBytes(AsyncWeb3.keccak(HexBytes(raw))).to_0x_hex()
            raise TxRejected(f"the node rejected the transaction: {e.message or e}") from None

    async def wait(self, tx_hash: str):
        return await wait_for_receipt(self.w3, tx_hash, self.confirmations, self.receipt_timeout)

    async def receipt(self, tx_hash: str):
        return await receipt_if_mined(self.w3, tx_hash)

    async def mined_nonce(self, address: str) -> int:
        return int(await self.w3.eth.get_transaction_count(address, "latest"))

    async def close(self) -> None:
        await self.w3.provider.disconnect()
