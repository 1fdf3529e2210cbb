"""Simulating a transaction before it is signed: does it revert, how much gas, and which logs
(hence which asset flows, see flows.py) would it produce.

`simulate(w3, tx)` asks `eth_simulateV1` with `traceTransfers` (anvil 1.7, current geth and
reth), which reports ETH moves as logs too; a node without it is asked `debug_traceCall` with
the call tracer and logs; the method that worked is remembered per endpoint. A node that serves
neither raises `SimulationUnavailable`: the guard cannot read a write's effects without one.
`call_only` is the plain `eth_call` + `eth_estimateGas` dry run (setup transactions, and the
baseline of benchmarks/guard.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from concilium.chain.flows import logs_from_call_frame
from concilium.chain.revert import describe_revert
from concilium.errors import ChainError

_UNSUPPORTED = ("not found", "not supported", "does not exist", "not available", "unsupported", "unknown method", "not implemented")


class SimulationUnavailable(ChainError):
    """The RPC serves neither eth_simulateV1 nor debug_traceCall."""


@dataclass(frozen=True)
class Simulation:
    ok: bool
    gas: int | None = None
    error: str | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    method: str = "eth_call"
    # token -> (wallet balance before, after), read around the call in the same simulated block
    # (eth_simulateV1 only): what moved, whatever the token's events claim
    balances: dict[str, tuple[int, int]] = field(default_factory=dict)


def _call(tx: dict) -> dict[str, Any]:
    """The call as it will be signed: gas limit and fees too when known, so code that looks
    at gasleft() or tx.gasprice to tell a simulation from the real thing sees the real values."""
    out: dict[str, Any] = {"from": tx["from"], "to": tx["to"]}
    if tx.get("value"):
        out["value"] = hex(int(tx["value"]))
    for k in ("gas", "maxFeePerGas", "maxPriorityFeePerGas"):
        if tx.get(k) is not None:
            out[k] = hex(int(tx[k]))
    data = tx.get("data") or "0x"
    out["input"] = data if isinstance(data, str) else HexBytes(data).to_0x_hex()
    return out


def _unsupported(e: Web3RPCError) -> bool:
    msg = (e.message or str(e)).lower()
    code = (e.rpc_response or {}).get("error", {}).get("code") if isinstance(getattr(e, "rpc_response", None), dict) else None
    return code == -32601 or any(s in msg for s in _UNSUPPORTED)


# The simulated block comes one slot after the head, as the real one will: code that runs only
# when time has passed (interest accrual in a lending market) must run in the simulation too, or
# its gas is missing from the estimate (a Morpho withdrawal ran out of gas that way).
NEXT_BLOCK_SECONDS = 12


BALANCE_OF = "0x70a08231"


async def _simulate_v1(w3: AsyncWeb3, tx: dict, watch: tuple[str, ...] = ()) -> Simulation:
    head = (await w3.provider.make_request("eth_getBlockByNumber", ["latest", False])).get("result") or {}
    reads = [{"from": tx["from"], "to": t, "input": BALANCE_OF + "0" * 24 + tx["from"].lower()[2:]} for t in watch]
    block: dict[str, Any] = {"calls": [*reads, _call(tx), *reads]}
    if "timestamp" in head:
        block["blockOverrides"] = {"time": hex(int(head["timestamp"], 16) + NEXT_BLOCK_SECONDS)}
    resp = await w3.provider.make_request("eth_simulateV1", [
        {"blockStateCalls": [block], "traceTransfers": True, "validation": False}, head.get("number", "latest")])
    if "error" in resp:
        raise Web3RPCError(str(resp["error"].get("message", resp["error"])), rpc_response=resp)
    calls = resp["result"][0]["calls"]
    call = calls[len(reads)]
    balances = {}
    for i, t in enumerate(watch):
        before, after = calls[i], calls[len(reads) + 1 + i]
        if int(before["status"], 16) == 1 == int(after["status"], 16) and len(before["returnData"]) == len(after["returnData"]) == 66:
            balances[t] = (int(before["returnData"], 16), int(after["returnData"], 16))
    gas = int(call["gasUsed"], 16)
    if int(call["status"], 16) != 1:
        err = call.get("error") or {}
        data = err.get("data") or call.get("returnData")
        reason = describe_revert(data) if data and data != "0x" else err.get("message", "execution reverted")
        return Simulation(False, gas, f"reverted: {reason}", method="eth_simulateV1")
    return Simulation(True, gas, logs=call.get("logs") or [], method="eth_simulateV1", balances=balances)


async def _trace_call(w3: AsyncWeb3, tx: dict, watch: tuple[str, ...] = ()) -> Simulation:
    """No balance watch: one call per trace (README: use an RPC that serves eth_simulateV1)."""
    call = _call(tx)
    call["data"] = call.pop("input")
    resp = await w3.provider.make_request("debug_traceCall", [call, "latest", {"tracer": "callTracer", "tracerConfig": {"withLog": True}}])
    if "error" in resp:
        raise Web3RPCError(str(resp["error"].get("message", resp["error"])), rpc_response=resp)
    frame = resp["result"]
    gas = int(frame.get("gasUsed", "0x0"), 16)
    if frame.get("error"):
        return Simulation(False, gas, f"reverted: {frame.get('revertReason') or frame['error']}", method="debug_traceCall")
    return Simulation(True, gas, logs=logs_from_call_frame(frame), method="debug_traceCall")


_METHODS = {"eth_simulateV1": _simulate_v1, "debug_traceCall": _trace_call}


class Simulator:
    """Remembers, per client, which tracing method the node serves."""

    def __init__(self, w3: AsyncWeb3):
        self.w3 = w3
        self.method: str | None = None

    async def run(self, tx: dict, watch: tuple[str, ...] = ()) -> Simulation:
        """`watch`: token addresses whose balance of `tx["from"]` to read before and after."""
        names = [self.method] if self.method else list(_METHODS)
        for name in names:
            try:
                sim = await _METHODS[name](self.w3, tx, watch)
            except Web3RPCError as e:
                if _unsupported(e) and self.method is None:
                    continue
                return Simulation(False, error=f"rejected by the node: {e.message or e}", method=name)
            self.method = name
            return sim
        raise SimulationUnavailable(
            "the RPC serves neither eth_simulateV1 nor debug_traceCall, so the guard cannot read what a transaction "
            "would do; use an RPC that serves eth_simulateV1 (geth, reth, anvil 1.7+, or a provider that offers it)")


async def call_only(w3: AsyncWeb3, tx: dict) -> Simulation:
    call = {k: tx[k] for k in ("from", "to", "value", "data") if k in tx}
    try:
        await w3.eth.call(call, "pending")
        gas = await w3.eth.estimate_gas(call, "pending")
        return Simulation(True, gas=int(gas))
    except ContractCustomError as e:
        return Simulation(False, error=f"reverted: {describe_revert(getattr(e, 'data', None) or e.message)}")
    except ContractLogicError as e:
        return Simulation(False, error=f"reverted: {e.message or e}")
    except Web3RPCError as e:
        return Simulation(False, error=f"rejected by the node: {e.message or e}")

