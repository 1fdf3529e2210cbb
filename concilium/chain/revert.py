"""Revert data as people read it: a custom error of any of our compiled contracts by its name and
arguments (`TimeoutOutOfRange(timeout=99999999, min=60, max=86400)`), `Error(string)` by its
message, `Panic(uint256)` by its code; anything else as the raw selector."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector

from concilium.chain.abi import artifact


def _type(p: dict[str, Any]) -> str:
    if p["type"].startswith("tuple"):
        return "(" + ",".join(_type(c) for c in p["components"]) + ")" + p["type"][5:]
    return p["type"]


@lru_cache(maxsize=1)
def known_errors() -> dict[bytes, tuple[str, list[str], list[str]]]:
    """selector -> (name, argument names, argument types), over every artifact we ship."""
    out: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for f in resources.files("concilium.artifacts").iterdir():
        if not f.name.endswith(".json"):
            continue
        for item in artifact(f.name[:-5])["abi"]:
            if item.get("type") == "error":
                types = [_type(p) for p in item["inputs"]]
                sel = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                out[sel] = (item["name"], [p["name"] or f"arg{i}" for i, p in enumerate(item["inputs"])], types)
    out[function_signature_to_4byte_selector("Error(string)")] = ("Error", ["message"], ["string"])
    out[function_signature_to_4byte_selector("Panic(uint256)")] = ("Panic", ["code"], ["uint256"])
    return out


def describe_revert(data: str | bytes | None) -> str:
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else bytes(data or b"")
    if len(raw) < 4:
        return "reverted without a reason"
    known = known_errors().get(raw[:4])
    if known is None:
        return f"unknown custom error 0x{raw[:4].hex()}"
    name, names, types = known
    try:
        values = decode(types, raw[4:])
    except Exception:  # eth_abi raises several types for malformed data
        return f"{name}(<undecodable arguments>)"
    if name == "Error":
        return str(values[0])
    shown = ", ".join(f"{n}={_show(v)}" for n, v in zip(names, values))
    return f"{name}({shown})"


def _show(v: Any) -> str:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    return json.dumps(v) if isinstance(v, str) else str(v)
