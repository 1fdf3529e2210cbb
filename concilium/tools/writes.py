"""Write tools: what an agent may ask to send. Each offers the JSON schema of its arguments
(enums of YAML names, bounded numbers) and turns a chosen decision into a `TxIntent`: the exact
transaction, plus the named facts the policy guard checks. Nothing here signs or sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from concilium.llm.decisions import Decision, bounded_number, enum
from concilium.tools.context import ToolContext
from concilium.units import to_units

ETHER = Decimal(10**18)
ETH_VALUE = "eth_value"  # the ETH sent with a payable call, beside its ABI inputs


@dataclass(frozen=True)
class TxIntent:
    tool: str
    to: str
    value_wei: int = 0
    data: str = "0x"
    recipient: str | None = None  # named address receiving value or tokens
    token: str | None = None
    token_amount: Decimal = Decimal(0)
    contract: str | None = None
    function: str | None = None
    summary: str = ""

    def tx(self) -> dict[str, Any]:
        return {"to": self.to, "value": self.value_wei, "data": self.data}


class ToolInputError(ValueError):
    """The decision names something the YAML does not define (caught before the guard)."""


# The schema is the first fence: the model can only name recipients the policy allows and
# amounts up to the per-transaction limit. The guard is the one that counts: it checks every
# rule again, for decisions from any source (a server without guided decoding, `propose`).


def _value_bound(ctx: ToolContext) -> float:
    return float(Decimal(ctx.agent.policy.max_value_per_tx) / ETHER)


def _recipients(ctx: ToolContext) -> list[str]:
    return list(ctx.agent.policy.recipients)


def _lookup(table: dict[str, Any], name: Any, what: str) -> Any:
    if name not in table:
        raise ToolInputError(f"unknown {what} {name!r}")
    return table[name]


# ----------------------------------------------------------------------------- send_native


def send_native_schema(ctx: ToolContext) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["to", "amount"], "properties": {
        "to": enum(_recipients(ctx), "who receives the ether"),
        "amount": bounded_number(_value_bound(ctx), "amount in ETH"),
    }}


async def send_native(ctx: ToolContext, d: Decision) -> TxIntent:
    to = _lookup(ctx.addresses, d.args.get("to"), "address")
    wei = int(Decimal(str(d.args.get("amount", 0))) * ETHER)
    return TxIntent("send_native", to, value_wei=wei, recipient=d.args["to"],
                    summary=f"send {Decimal(wei) / ETHER} ETH to {d.args['to']}")


# ----------------------------------------------------------------------------- erc20_transfer


def erc20_transfer_schema(ctx: ToolContext) -> dict[str, Any]:
    tokens = sorted(ctx.agent.policy.token_limits)
    return {"type": "object", "additionalProperties": False, "required": ["token", "to", "amount"], "properties": {
        "token": enum(tokens, "which token"),
        "to": enum(_recipients(ctx), "who receives the tokens"),
        "amount": bounded_number(max(ctx.agent.policy.token_limits[t].per_tx for t in tokens), "amount in token units"),
    }}


async def erc20_transfer(ctx: ToolContext, d: Decision) -> TxIntent:
    token = _lookup(ctx.contracts, d.args.get("token"), "token")
    to = _lookup(ctx.addresses, d.args.get("to"), "address")
    amount = Decimal(str(d.args.get("amount", 0)))
    units = to_units(amount, await ctx.decimals(token.name))
    data = token.handle.encode_abi("transfer", args=[to, units])
    return TxIntent("erc20_transfer", token.address, data=data, recipient=d.args["to"], token=token.name,
                    token_amount=amount, contract=token.name, function="transfer",
                    summary=f"transfer {amount} {token.name} to {d.args['to']}")


# ----------------------------------------------------------------------------- write_contract


def _input_schema(ctx: ToolContext, abi_type: str) -> dict[str, Any] | None:
    if abi_type == "address":
        return enum(sorted(ctx.addresses), "a named address")
    if abi_type.startswith(("uint", "int")) and "[" not in abi_type:
        return {"type": "integer", "minimum": 0, "maximum": 2**53}
    if abi_type == "bool":
        return {"type": "boolean"}
    if abi_type == "string":
        return {"type": "string", "maxLength": 100}
    return None


def _callable_functions(ctx: ToolContext) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(contract, function abi, args schema) for every allowed function whose inputs we can offer."""
    out = []
    for cname, fnames in ctx.agent.policy.contracts.items():
        ref = ctx.contracts[cname]
        for f in ref.functions(mutating=True):
            if f["name"] not in fnames:
                continue
            props = {i["name"] or f"arg{n}": _input_schema(ctx, i["type"]) for n, i in enumerate(f["inputs"])}
            if any(v is None for v in props.values()):
                continue
            if f.get("stateMutability") == "payable":
                props[ETH_VALUE] = bounded_number(_value_bound(ctx), "ETH to send with the call")
            out.append((cname, f, {"type": "object", "additionalProperties": False, "required": list(props), "properties": props}))
    return out


def write_contract_schema(ctx: ToolContext) -> dict[str, Any]:
    branches = [{"type": "object", "additionalProperties": False, "required": ["contract", "function", "inputs"],
                 "properties": {"contract": enum([c], "contract"), "function": enum([f["name"]], "function"), "inputs": s}}
                for c, f, s in _callable_functions(ctx)]
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


async def write_contract(ctx: ToolContext, d: Decision) -> TxIntent:
    ref = _lookup(ctx.contracts, d.args.get("contract"), "contract")
    fname = d.args.get("function")
    fabi = next((f for f in ref.functions(mutating=True) if f["name"] == fname), None)
    if fabi is None:
        raise ToolInputError(f"contract {ref.name!r} has no writable function {fname!r}")
    inputs = dict(d.args.get("inputs", {}))
    value = int(Decimal(str(inputs.pop(ETH_VALUE, 0))) * ETHER) if fabi.get("stateMutability") == "payable" else 0
    args = []
    for n, i in enumerate(fabi["inputs"]):
        v = inputs.get(i["name"] or f"arg{n}")
        args.append(_lookup(ctx.addresses, v, "address") if i["type"] == "address" else v)
    data = ref.handle.encode_abi(fname, args=args)
    return TxIntent("write_contract", ref.address, value_wei=value, data=data, contract=ref.name, function=fname,
                    summary=f"call {ref.name}.{fname}({', '.join(map(str, inputs.values()))})")


WriteTool = tuple[Callable[[ToolContext], dict[str, Any]], Callable[..., Any], str]
WRITE_TOOLS: dict[str, WriteTool] = {
    "send_native": (send_native_schema, send_native, "Send ETH to a named address"),
    "erc20_transfer": (erc20_transfer_schema, erc20_transfer, "Transfer ERC-20 tokens to a named address"),
    "write_contract": (write_contract_schema, write_contract, "Call an allowed function of a named contract"),
}
