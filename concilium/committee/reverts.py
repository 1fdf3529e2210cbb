"""Why a Safe transaction reverted, in one line: the Safe's GSxxx codes and CommitteeGuard's custom
errors decoded from revert data. Pure."""

from __future__ import annotations

from functools import lru_cache

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from concilium.chain.abi import artifact

SAFE_CODES = {
    "GS010": "not enough gas for the Safe transaction",
    "GS011": "the gas refund in ETH failed",
    "GS012": "the gas refund in tokens failed",
    "GS013": "the Safe's inner call reverted",
    "GS020": "fewer signatures than the threshold",
    "GS021": "a contract signature points inside the static part",
    "GS022": "a contract signature is out of bounds",
    "GS023": "a contract signature is out of bounds",
    "GS024": "an owner contract refused its EIP-1271 signature",
    "GS025": "an approved-hash signature without approval",
    "GS026": "a signature is not from an owner for this transaction, or owners are not sorted "
             "(forged, or signed for another nonce, Safe or chain)",
    "GS027": "the data does not match its hash",
    "GS030": "only owners may approve hashes",
    "GS031": "only the Safe may call this",
}
ERROR_STRING = function_signature_to_4byte_selector("Error(string)")


@lru_cache(maxsize=1)
def _guard_errors() -> dict[bytes, tuple[str, list[str]]]:
    out = {}
    for item in artifact("CommitteeGuard")["abi"]:
        if item["type"] == "error":
            types = [i["type"] for i in item["inputs"]]
            out[function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")] = (item["name"], types)
    return out


def _fmt(value, typ: str) -> str:
    if typ == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def explain(data: bytes | str | None) -> str:
    """A one-line reason for revert `data` (raw bytes or 0x-hex)."""
    if data is None:
        return "reverted without a reason"
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else bytes(data)
    if raw[:4] == ERROR_STRING:
        try:
            (msg,) = decode(["string"], raw[4:])
        except Exception:
            return "reverted with a malformed reason"
        return f"Safe {msg}: {SAFE_CODES[msg]}" if msg in SAFE_CODES else f"reverted: {msg}"
    if known := _guard_errors().get(raw[:4]):
        name, types = known
        try:
            args = decode(types, raw[4:]) if types else ()
        except Exception:
            return f"CommitteeGuard refused: {name}"
        return f"CommitteeGuard refused: {name}({', '.join(_fmt(a, t) for a, t in zip(args, types))})"
    return f"reverted with data 0x{raw.hex()[:80]}"
