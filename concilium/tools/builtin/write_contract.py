"""write_contract: call an allowed function of a named contract, any ABI.

    tools: [write_contract]
    policy: {contracts: {vault: [deposit, withdraw]}, recipients: [vault], limits: {usdc: {per_tx: 10}}}

Arguments the model fills: addresses only as YAML names; integers of any width as decimal
strings (no 2^53 cap) or as `{"amount": "1.5", "token": "usdc"}` in token units; bool, string,
bytes (hex) and arrays of these. What the call *does* (tokens moved, approvals granted, ETH
sent) is read from its simulation by the guard, like any other tool's.
"""

from __future__ import annotations

import re
from typing import Any

from concilium.llm.decisions import bounded_number, enum
from concilium.tools.args import base_units, lookup, wei
from concilium.tools.builtin._common import ETH, need, per_tx_bound
from concilium.seams.tool import Tool, ToolInputError, TxIntent

ETH_VALUE = "eth_value"  # the ETH sent with a payable call, beside its ABI inputs
_INT = re.compile(r"^(u?)int(\d*)$")
_BYTES = re.compile(r"^bytes(\d*)$")


def _int_bounds(abi_type: str) -> tuple[int, int]:
    unsigned, bits = _INT.match(abi_type).groups()  # type: ignore[union-attr]
    n = int(bits or 256)
    return (0, 2**n - 1) if unsigned else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)


def _input_schema(ctx, abi_type: str) -> dict[str, Any] | None:
    if abi_type.endswith("[]"):
        inner = _input_schema(ctx, abi_type[:-2])
        return None if inner is None else {"type": "array", "items": inner, "maxItems": 16}
    if abi_type == "address":
        return enum(sorted(ctx.names), "a named address")
    if _INT.match(abi_type):
        lo, _ = _int_bounds(abi_type)
        digits = {"type": "string", "pattern": "^-?[0-9]+$" if lo < 0 else "^[0-9]+$", "description": "an integer, as a decimal string"}
        tokens = sorted(c for c in ctx.agent.policy.limits if c != ETH)
        if not tokens:
            return digits
        amount = {"type": "object", "additionalProperties": False, "required": ["amount", "token"], "properties": {
            "amount": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}, "token": enum(tokens, "token whose units")}}
        return {"anyOf": [digits, amount]}
    if abi_type == "bool":
        return {"type": "boolean"}
    if abi_type == "string":
        return {"type": "string", "maxLength": 100}
    if _BYTES.match(abi_type):
        return {"type": "string", "pattern": "^0x[0-9a-fA-F]*$"}
    return None


def _functions(ctx) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(contract, function abi, inputs schema) for every allowed function we can offer."""
    out = []
    for cname, fnames in ctx.agent.policy.contracts.items():
        for f in ctx.contracts[cname].functions(mutating=True):
            if f["name"] not in fnames:
                continue
            props = {i["name"] or f"arg{n}": _input_schema(ctx, i["type"]) for n, i in enumerate(f["inputs"])}
            if any(v is None for v in props.values()):
                continue
            if f.get("stateMutability") == "payable":
                props[ETH_VALUE] = bounded_number(per_tx_bound(ctx, [ETH]), "ETH to send with the call")
            out.append((cname, f, {"type": "object", "additionalProperties": False, "required": list(props), "properties": props}))
    return out


def schema(ctx) -> dict:
    branches = [{"type": "object", "additionalProperties": False, "required": ["contract", "function", "inputs"],
                 "properties": {"contract": enum([c], "contract"), "function": enum([f["name"]], "function"), "inputs": s}}
                for c, f, s in _functions(ctx)]
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


async def _value(ctx, abi_type: str, v: Any, what: str) -> Any:
    """One decided input -> the Python value web3 encodes; refuses what the ABI type cannot hold."""
    if abi_type.endswith("[]"):
        if not isinstance(v, list) or len(v) > 16:
            raise ToolInputError(f"{what} must be a list of at most 16 items")
        return [await _value(ctx, abi_type[:-2], x, f"{what}[{i}]") for i, x in enumerate(v)]
    if abi_type == "address":
        return lookup(ctx.names, v, "address")
    if _INT.match(abi_type):
        if isinstance(v, dict):
            token = lookup(ctx.contracts, v.get("token"), "token")
            n = base_units(v.get("amount"), await ctx.decimals(token.name), what)
        elif isinstance(v, str) and re.fullmatch(r"-?[0-9]{1,78}", v.strip()):
            n = int(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            n = v
        else:
            raise ToolInputError(f"{what} must be an integer as a decimal string, got {v!r}")
        lo, hi = _int_bounds(abi_type)
        if not lo <= n <= hi:
            raise ToolInputError(f"{what} {n} does not fit {abi_type}")
        return n
    if abi_type == "bool" and isinstance(v, bool):
        return v
    if abi_type == "string" and isinstance(v, str):
        return v
    if _BYTES.match(abi_type) and isinstance(v, str) and re.fullmatch(r"0x([0-9a-fA-F]{2})*", v):
        raw = bytes.fromhex(v[2:])
        size = _BYTES.match(abi_type).group(1)  # type: ignore[union-attr]
        if size and len(raw) != int(size):
            raise ToolInputError(f"{what} must be {size} bytes")
        return raw
    raise ToolInputError(f"{what}: cannot pass {v!r} as {abi_type}")


async def build(ctx, args: dict) -> TxIntent:
    ref = lookup(ctx.contracts, args.get("contract"), "contract")
    fname = args.get("function")
    fabi = next((f for f in ref.functions(mutating=True) if f["name"] == fname), None)
    if fabi is None:
        raise ToolInputError(f"contract {ref.name!r} has no writable function {fname!r}")
    inputs = args.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise ToolInputError("inputs must be an object of named arguments")
    value = 0
    if ETH_VALUE in inputs:
        if fabi.get("stateMutability") != "payable":
            raise ToolInputError(f"{ref.name}.{fname} is not payable; it takes no {ETH_VALUE}")
        raw = inputs[ETH_VALUE]
        value = 0 if raw in (0, "0") else wei(raw, ETH_VALUE)
    values = []
    for n, i in enumerate(fabi["inputs"]):
        key = i["name"] or f"arg{n}"
        if key not in inputs:
            raise ToolInputError(f"{ref.name}.{fname} needs input {key!r}")
        values.append(await _value(ctx, i["type"], inputs[key], key))
    data = ref.handle.encode_abi(fname, args=values)
    shown = ", ".join(f"{k}={v}" for k, v in inputs.items())
    return TxIntent("write_contract", ref.address, value_wei=value, data=data, contract=ref.name, function=fname,
                    summary=f"call {ref.name}.{fname}({shown})"[:300])


def check(spec, agent):
    return need(bool(agent.policy.contracts), (), "write_contract needs policy.contracts: {contract: [function, ...]} naming what it may call")


TOOL = Tool("write_contract", "Call an allowed function of a named contract", schema, build=build, check=check)
