"""A transaction's effects on one wallet, as typed flows: a pure function of its logs.

In: the logs a simulation or a receipt shows (`{"address", "topics", "data"}`), the wallet, and
for a receipt the ETH the transaction carried. `eth_simulateV1` with `traceTransfers` reports
every ETH move, internal ones included, as an ERC-20-shaped `Transfer` log from `NATIVE`;
`debug_traceCall` frames become such logs through `logs_from_call_frame`.

Out: `Flows`: every transfer out of the wallet (ETH, ERC-20, ERC-721, ERC-1155, WETH9
`Withdrawal`) with its recipient, every transfer in, every approval the wallet grants (ERC-20 and
ERC-721 `Approval`, `ApprovalForAll` of ERC-721/1155, Permit2 `Approval`/`Permit`: anything
approval-shaped with the wallet as owner), and the net change per asset. Unlimited approvals
(ApprovalForAll, amounts >= 2^255, Permit2's max uint160) carry `UNLIMITED`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from eth_utils import keccak, to_checksum_address

NATIVE = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"
ETH = "ETH"
UNLIMITED = 2**256 - 1


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


TRANSFER = _topic("Transfer(address,address,uint256)")
APPROVAL = _topic("Approval(address,address,uint256)")
APPROVAL_FOR_ALL = _topic("ApprovalForAll(address,address,bool)")
TRANSFER_SINGLE = _topic("TransferSingle(address,address,address,uint256,uint256)")
TRANSFER_BATCH = _topic("TransferBatch(address,address,address,uint256[],uint256[])")
PERMIT2_APPROVAL = _topic("Approval(address,address,address,uint160,uint48)")
PERMIT2_PERMIT = _topic("Permit(address,address,address,uint160,uint48,uint48)")
WETH_DEPOSIT = _topic("Deposit(address,uint256)")
WETH_WITHDRAWAL = _topic("Withdrawal(address,uint256)")


@dataclass(frozen=True)
class Flow:
    """`kind` "out" / "in": `asset` moved from / to the wallet, `counterparty` is the other
    side. "approval": the wallet lets `counterparty` (spender, operator) move up to `amount`
    of `asset` (the allowance after this transaction; 0 revokes)."""

    kind: str
    asset: str  # "ETH" or the token contract's checksum address
    counterparty: str
    amount: int
    standard: str  # native | erc20 | erc721 | erc1155 | permit2 | weth
    token_id: int | None = None
    via: str | None = None  # for Permit2: the Permit2 contract that holds the approval

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, int) and k in ("amount", "token_id") else v)
                for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Flows:
    flows: tuple[Flow, ...] = ()
    net: dict[str, int] = field(default_factory=dict)  # asset -> received minus sent

    def of(self, kind: str) -> list[Flow]:
        return [f for f in self.flows if f.kind == kind]

    def sent(self) -> dict[str, int]:
        """Per asset, the total that left the wallet (not netted against what came in)."""
        out: dict[str, int] = {}
        for f in self.of("out"):
            out[f.asset] = out.get(f.asset, 0) + f.amount
        return out

    def as_list(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self.flows]


def _hex(v: Any) -> str:
    return v if isinstance(v, str) else "0x" + bytes(v).hex()


def _address(topic: Any) -> str:
    return to_checksum_address("0x" + _hex(topic)[-40:])


def _words(data: Any) -> list[int]:
    raw = _hex(data)[2:]
    return [int(raw[i:i + 64], 16) for i in range(0, len(raw) - len(raw) % 64, 64)]


def _decode(log: dict[str, Any], wallet: str) -> Iterable[Flow]:
    topics = [_hex(t).lower() for t in log.get("topics", [])]
    if not topics:
        return
    t0, addr = topics[0], to_checksum_address(_hex(log["address"]))
    words = _words(log.get("data", "0x"))
    same = lambda t: _address(t) == wallet  # noqa: E731
    if t0 == TRANSFER and len(topics) in (3, 4):
        asset, standard = (ETH, "native") if addr == NATIVE else (addr, "erc20" if len(topics) == 3 else "erc721")
        amount, token_id = (words[0] if words else 0, None) if len(topics) == 3 else (1, int(topics[3], 16))
        src, dst = _address(topics[1]), _address(topics[2])
        if src == wallet and dst != wallet:
            yield Flow("out", asset, dst, amount, standard, token_id)
        elif dst == wallet and src != wallet:
            yield Flow("in", asset, src, amount, standard, token_id)
    elif t0 == APPROVAL and len(topics) in (3, 4) and same(topics[1]):
        if len(topics) == 3:
            amount = words[0] if words else 0
            yield Flow("approval", addr, _address(topics[2]), UNLIMITED if amount >= 2**255 else amount, "erc20")
        else:
            yield Flow("approval", addr, _address(topics[2]), 1, "erc721", int(topics[3], 16))
    elif t0 == APPROVAL_FOR_ALL and len(topics) == 3 and same(topics[1]):
        yield Flow("approval", addr, _address(topics[2]), UNLIMITED if words and words[0] else 0, "erc721")
    elif t0 in (PERMIT2_APPROVAL, PERMIT2_PERMIT) and len(topics) == 4 and same(topics[1]):
        amount = words[0] if words else 0
        yield Flow("approval", _address(topics[2]), _address(topics[3]), UNLIMITED if amount >= 2**160 - 1 else amount, "permit2", via=addr)
    elif t0 in (TRANSFER_SINGLE, TRANSFER_BATCH) and len(topics) == 4:
        src, dst = _address(topics[2]), _address(topics[3])
        if t0 == TRANSFER_SINGLE:
            pairs = [(words[0], words[1])] if len(words) >= 2 else []
        else:  # two dynamic arrays: offsets, then [len, items...] each
            ids_at, values_at = words[0] // 32, words[1] // 32
            n = words[ids_at]
            pairs = list(zip(words[ids_at + 1:ids_at + 1 + n], words[values_at + 1:values_at + 1 + n]))
        for token_id, amount in pairs:
            if src == wallet and dst != wallet:
                yield Flow("out", addr, dst, amount, "erc1155", token_id)
            elif dst == wallet and src != wallet:
                yield Flow("in", addr, src, amount, "erc1155", token_id)
    elif t0 == WETH_WITHDRAWAL and len(topics) == 2 and same(topics[1]):
        yield Flow("out", addr, addr, words[0] if words else 0, "weth")  # burned for ETH, no Transfer
    elif t0 == WETH_DEPOSIT and len(topics) == 2 and same(topics[1]):
        yield Flow("in", addr, addr, words[0] if words else 0, "weth")


def flows_from_logs(logs: Iterable[dict[str, Any]], wallet: str, value_sent: int = 0, value_to: str | None = None) -> Flows:
    """`value_sent`/`value_to`: the transaction's own ETH, for receipts (whose logs never show
    ETH); leave 0 for simulations with traceTransfers, which already log it."""
    wallet = to_checksum_address(wallet)
    flows: list[Flow] = []
    if value_sent:
        flows.append(Flow("out", ETH, to_checksum_address(value_to or NATIVE), value_sent, "native"))
    for log in logs:
        flows.extend(_decode(log, wallet))
    net: dict[str, int] = {}
    for f in flows:
        if f.kind in ("in", "out"):
            net[f.asset] = net.get(f.asset, 0) + (f.amount if f.kind == "in" else -f.amount)
    return Flows(tuple(flows), net)


def logs_from_call_frame(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """A `debug_traceCall` callTracer frame (with `withLog`) -> its logs in order, ETH moves as
    `NATIVE` Transfer logs; frames that reverted contribute nothing."""
    if frame.get("error"):
        return []
    out: list[dict[str, Any]] = []
    raw = frame.get("value") or 0
    value = int(raw, 16) if isinstance(raw, str) else int(raw)
    if value and frame.get("type", "CALL") not in ("DELEGATECALL", "STATICCALL"):
        pad = lambda a: "0x" + "0" * 24 + a.lower()[2:]  # noqa: E731
        out.append({"address": NATIVE, "topics": [TRANSFER, pad(frame["from"]), pad(frame["to"])], "data": "0x" + f"{value:064x}"})
    # callTracer gives each frame's own logs and its subcalls separately; `position` orders them
    children = frame.get("calls") or []
    logs = sorted(frame.get("logs") or [], key=_pos)
    i = 0
    for n, child in enumerate(children):
        while i < len(logs) and _pos(logs[i]) <= n:
            out.append(logs[i])
            i += 1
        out.extend(logs_from_call_frame(child))
    out.extend(logs[i:])
    return out


def _pos(log: dict[str, Any]) -> int:
    p = log.get("position", 0)
    return int(p, 16) if isinstance(p, str) else int(p)
