"""OracleClient: ask the AgentOracle from Python and await the agreed answer.

    client = OracleClient(chain, oracle_address, wallet)
    req = await client.request("Is 7 a prime number?", "bool",      # fee: at least estimateFee (the default)
                               model_id=None, timeout=0, callback_gas=100_000)   # every request option
    result = await req.result(timeout=300)      # OracleResult(value=True, signers=[...], ...)

The fee must cover `estimateFee(kind, callbackGas, maxGasPrice)`: the transmitter's gas at a
price bound (default: twice the chain's current gas price) plus a premium per node; a fee below it
is refused here, before anything is sent. A request the nodes cannot answer raises `OracleUnanswerable` (with the reason) as soon as a
quorum has said so; its fee, less the transmitter's gas, is credited back: `client.withdraw()`.
A revert reaches the caller as a one-line error naming the contract's custom error.
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
from concilium.oracle.signing import Reason


class OracleTimeout(ConciliumError):
    """No result before the wait ended (the request may still be fulfilled, or cancelled after its deadline)."""


class OracleUnanswerable(ConciliumError):
    """A quorum of nodes signed that the request cannot be answered; the fee was refunded (less gas)."""

    def __init__(self, message: str, reasons: list[str], refund: int):
        super().__init__(message)
        self.reasons, self.refund = reasons, refund


@dataclass(frozen=True)
class OracleResult:
    """`signers`: the nodes of the report that agreed and were paid (`model_ids` theirs);
    `reported`: every node in the report, `share` what each agreeing node earned, `reimbursement`
    what the transmitter got back for its gas (wei)."""

    request_id: int
    value: Any
    raw: bytes
    signers: list[str]
    model_ids: list[str]
    callback_ok: bool
    tx_hash: str
    gas_used: int
    block: int
    reported: list[str] = field(default_factory=list)
    share: int = 0
    reimbursement: int = 0


@dataclass
class OracleRequest:
    client: "OracleClient"
    request_id: int
    kind: Kind
    options: bytes
    tx_hash: str
    block: int
    deadline: int
    fee: int = 0
    max_gas_price: int = 0
    _poll: float = field(default=0.25, repr=False)

    async def result(self, timeout: float = 600.0, poll: float | None = None) -> OracleResult:
        """Wait for the settlement, checking every `poll` seconds (default 0.25)."""
        end, poll = time.monotonic() + timeout, self._poll if poll is None else poll
        events = self.client.contract.events
        while time.monotonic() < end:
            logs = await events.Fulfilled().get_logs(from_block=self.block, argument_filters={"requestId": self.request_id})
            if logs:
                e = logs[0]
                receipt = await self.client.chain.w3.eth.get_transaction_receipt(e["transactionHash"])
                raw, a = bytes(e["args"]["result"]), e["args"]
                paid = [i for i in range(len(a["signers"])) if int(a["paid"]) >> i & 1]
                return OracleResult(self.request_id, decode_answer(self.kind, raw, self.options), raw, [a["signers"][i] for i in paid],
                                    ["0x" + bytes(a["modelIds"][i]).hex() for i in paid], bool(a["callbackOk"]),
                                    HexBytes(e["transactionHash"]).to_0x_hex(), int(receipt["gasUsed"]), int(e["blockNumber"]),
                                    list(a["signers"]), int(a["share"]), int(a["reimbursement"]))
            if unanswered := await events.Unanswered().get_logs(from_block=self.block, argument_filters={"requestId": self.request_id}):
                args = unanswered[0]["args"]
                reasons = sorted({Reason(r).name.lower() if r <= max(Reason) else str(r) for r in args["reasons"]})
                raise OracleUnanswerable(f"request {self.request_id} cannot be answered, say {len(args['signers'])} nodes "
                                         f"({', '.join(reasons)}); {args['refund']} wei refunded to the requester (withdraw)",
                                         reasons, int(args["refund"]))
            if await events.Cancelled().get_logs(from_block=self.block, argument_filters={"requestId": self.request_id}):
                raise OracleTimeout(f"request {self.request_id} was cancelled; its fee is credited to the requester (withdraw)")
            await asyncio.sleep(poll)
        raise OracleTimeout(f"no answer to request {self.request_id} within {timeout:.0f} s; after its deadline "
                            f"({self.deadline}) you can cancel it for a refund")

    async def cancel(self):
        """Credit the fee back to the requester (anyone may, after the deadline); then `withdraw`."""
        return await self.client._send(self.client.contract.encode_abi("cancel", args=[self.request_id]), what="cancel")


class OracleClient:
    def __init__(self, chain: ChainClient, oracle: str, wallet: Wallet):
        self.chain = chain
        self.wallet = wallet
        self.contract = chain.contract(oracle, artifact("AgentOracle")["abi"])

    async def estimate_fee(self, kind: str | Kind = "bool", callback_gas: int = 100_000,
                           max_gas_price: int | None = None) -> tuple[int, int]:
        """(least fee in wei, the gas-price bound it was priced at); the bound defaults to twice
        the chain's current gas price."""
        kind = Kind.parse(kind) if isinstance(kind, str) else kind
        if max_gas_price is None:
            max_gas_price = 2 * int(await self.chain.w3.eth.gas_price)
        if not 0 <= max_gas_price < 2**64:
            raise ConciliumError("the gas-price bound must fit 64 bits")
        fee = int(await self.contract.functions.estimateFee(int(kind), callback_gas, max_gas_price).call())
        return fee, max_gas_price

    async def request(self, prompt: str, kind: str | Kind = "bool", labels: list[str] | None = None, fee: int | None = None,
                      callback_gas: int = 100_000, model_id: str | None = None, timeout: int = 0,
                      max_gas_price: int | None = None, min_families: int = 0) -> OracleRequest:
        """Ask; `model_id` pins the answering model (0x + 64 hex), `timeout` in seconds (0: the
        oracle's default), `callback_gas` for a consumer contract (an EOA needs none), `fee` in wei
        (default: the estimate), `max_gas_price` the transmitter's reimbursement bound in wei,
        `min_families` how many model families the nodes that agree must span (0 or 1: any)."""
        kind = Kind.parse(kind) if isinstance(kind, str) else kind
        if kind is Kind.CHOICE and not labels:
            raise ConciliumError("a choice question needs its labels: --labels yes,no,unsure on the command line, labels=[...] in Python")
        if model_id is not None and not (model_id.startswith("0x") and len(model_id) == 66):
            raise ConciliumError(f"a model id is 0x and 64 hex digits, not {model_id!r}")
        if timeout < 0 or callback_gas < 0 or (fee or 0) < 0:
            raise ConciliumError("timeout, callback gas and fee cannot be negative")
        if not 0 <= min_families <= 255 or (model_id is not None and min_families > 1):
            raise ConciliumError(f"min families must be 0 to 255, and at most 1 with a pinned model (one model is one family), "
                                 f"not {min_families}")
        options = encode_options(labels or [])
        estimate, bound = await self.estimate_fee(kind, callback_gas, max_gas_price)
        if fee is None:
            fee = estimate
        elif fee < estimate:
            raise ConciliumError(f"a fee of {fee} wei is below the oracle's estimate of {estimate} wei "
                                 f"(callback gas {callback_gas}, gas price bound {bound} wei)")
        data = self.contract.encode_abi("requestPinned", args=[prompt, int(kind), options, callback_gas,
                                                               HexBytes(model_id or "0x" + "00" * 32), timeout, bound, min_families])
        receipt = await self._send(data, fee, "the oracle request")
        [event] = self.contract.events.Requested().process_receipt(receipt, errors=DISCARD)
        return OracleRequest(self, int(event["args"]["requestId"]), kind, options, HexBytes(receipt["transactionHash"]).to_0x_hex(),
                             int(receipt["blockNumber"]), int(event["args"]["request"]["deadline"]), fee, bound)

    async def credits(self, account: str | None = None) -> int:
        """Wei `account` (default: this wallet) can withdraw: node credits and refunds."""
        return int(await self.contract.functions.credits(account or self.wallet.address).call())

    async def withdraw(self, to: str | None = None):
        """Pull this wallet's credits and refunds to `to` (default: itself)."""
        return await self._send(self.contract.encode_abi("withdraw", args=[to or self.wallet.address]), what="withdraw")

    async def _send(self, data: str, value: int = 0, what: str = "the oracle call"):
        return await self.chain.transact(self.wallet, {"to": self.contract.address, "data": data, "value": value}, what)
