"""Chain values as JSON-able, bounded data for the model. Values from the chain are untrusted:
strings are cut to a bounded length and passed as data, never as instructions (the prompt
escapes chat-template control text in them, see concilium/llm/sanitize.py)."""

from __future__ import annotations

from typing import Any

MAX_TEXT = 200


def clean(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()[:2 * MAX_TEXT]
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value[:20]]
    if isinstance(value, dict):
        return {str(k)[:MAX_TEXT]: clean(v) for k, v in list(value.items())[:20]}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)
    return value
