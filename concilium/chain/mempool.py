"""What is waiting in the node's mempool (`txpool_content`): pending calls to one contract, decoded.

Lets a submitter see that someone else's transaction for the same work is already on its way
before it sends a second. An RPC without the txpool API (most public ones) shows nothing; the
caller then relies on its other back-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from concilium.chain.client import ChainClient


@dataclass(frozen=True)
class PendingCall:
    sender: str
    function: str
    args: dict[str, Any]


async def pending_calls(chain: ChainClient, contract) -> list[PendingCall]:
    """Pending (not yet mined) transactions to `contract` whose input decodes against its ABI."""
    try:
        pool = (await chain.w3.provider.make_request("txpool_content", [])).get("result") or {}
    except Exception:  # noqa: BLE001 - the txpool API is optional; no answer means nothing seen
        return []
    calls = []
    for sender, by_nonce in (pool.get("pending") or {}).items():
        for tx in (by_nonce or {}).values():
            if str(tx.get("to") or "").lower() != contract.address.lower():
                continue
            try:
                fn, args = contract.decode_function_input(tx.get("input") or "0x")
            except ValueError:
                continue
            calls.append(PendingCall(sender, fn.fn_name, dict(args)))
    return calls
