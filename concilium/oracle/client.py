"""OracleClient: ask the AgentOracle from Python and await the agreed answer.

    client = OracleClient(chain, oracle_address, wallet)
    req = await client.request("Is 7 a prime number?", "bool", fee=10**15)
    result = await req.result(timeout=300)      # OracleResult(value=True, signers=[...], ...)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from hexbytes import HexBytes
from web3.logs import DISCARD

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet
from concilium.errors import ConciliumError
from concilium.oracle.kinds import Kind, decode_answer, encode_options


class OracleTimeout(ConciliumError):
    """No result before the wait ended (the request may still be fulfilled, or cancelled after its deadline)."""


@dataclass(frozen=True)
class OracleResult:
    request_id: int
    value: Any
    raw: bytes
    signers: list[str]
    model_ids: list[str]
    callback_ok: bool
    tx_hash: str
    gas_used: int
    block: int


@dataclass
class OracleRequest:
    client: "OracleClient"
    request_id: int
    kind: Kind
    options: bytes
    tx_hash: str
    block: int
    deadline: int
    _poll: float = field(default=0.25, repr=False)

    async def result(self, timeout: float = 600.0) -> OracleResult:
        end = time.monotonic() + timeout
        events = self.client.contract.events
        while time.monotonic() < end:
            logs = await events.Fulfilled().get_logs(from_block=self.block, argument_filters={"requestId": self.request_id})
            if logs:
                e = logs[0]
                receipt = await self.client.chain.w3.eth.get_transaction_receipt(e["transactionHash"])
                raw = bytes(e["args"]["result"])
                return OracleResult(self.request_id, decode_answer(self.kind, raw, self.options), raw, list(e["args"]["signers"]),
                                    ["0x" + bytes(m).hex() for m in e["args"]["modelIds"]], bool(e["args"]["callbackOk"]),
                                    HexBytes(e["transactionHash"]).to_0x_hex(), int(receipt["gasUsed"]), int(e["blockNumber"]))
            if await events.Cancelled().get_logs(from_block=self.block, argument_filters={"requestId": self.request_id}):
                raise OracleTimeout(f"request {self.request_id} was cancelled and refunded")
            await asyncio.sleep(self._poll)
        raise OracleTimeout(f"no answer to request {self.request_id} within {timeout:.0f} s; after its deadline "
                            f"({self.deadline}) you can cancel it for a refund")

    async def cancel(self):
        """Refund the fee to the requester; only after the deadline."""
        return await self.client._send(self.client.contract.encode_abi("cancel", args=[self.request_id]))


class OracleClient:
    def __init__(self, chain: ChainClient, oracle: str, wallet: Wallet):
        self.chain = chain
        self.wallet = wallet
        self.contract = chain.contract(oracle, artifact("AgentOracle")["abi"])

    async def request(self, prompt: str, kind: str | Kind = "bool", labels: list[str] | None = None, fee: int = 0,
                      callback_gas: int = 100_000, model_id: str | None = None, timeout: int = 0) -> OracleRequest:
        kind = Kind.parse(kind) if isinstance(kind, str) else kind
        if kind is Kind.CHOICE and not labels:
            raise ConciliumError("a choice question needs its labels: --labels yes,no,unsure on the command line, labels=[...] in Python")
        options = encode_options(labels or [])
        if model_id or timeout:
            data = self.contract.encode_abi("requestPinned", args=[prompt, int(kind), options, callback_gas,
                                                                   HexBytes(model_id or "0x" + "00" * 32), timeout])
        else:
            data = self.contract.encode_abi("request", args=[prompt, int(kind), options, callback_gas])
        receipt = await self._send(data, fee)
        [event] = self.contract.events.Requested().process_receipt(receipt, errors=DISCARD)
        return OracleRequest(self, int(event["args"]["requestId"]), kind, options, HexBytes(receipt["transactionHash"]).to_0x_hex(),
                             int(receipt["blockNumber"]), int(event["args"]["deadline"]))

    async def _send(self, data: str, value: int = 0):
        return await self.chain.transact(self.wallet, {"to": self.contract.address, "data": data, "value": value}, "the oracle call")
