"""Asking a model again what it was asked before: requests kept as plain JSON messages, and the
comparison of a recorded output with a fresh one (identical, or a unified diff)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

_ROLES = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
_TYPES = {"system": "system", "human": "user", "ai": "assistant"}


def as_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _TYPES.get(m.type, m.type), "content": str(m.content)} for m in messages]


def from_dicts(messages: list[dict[str, str]]) -> list[BaseMessage]:
    return [_ROLES[m["role"]](m["content"]) for m in messages]


@dataclass(frozen=True)
class Comparison:
    identical: bool
    recorded: str
    replayed: str
    diff: str

    def as_dict(self) -> dict[str, Any]:
        return {"identical": self.identical, "recorded": self.recorded, "replayed": self.replayed, "diff": self.diff}


def _pretty(text: str) -> list[str]:
    try:
        return json.dumps(json.loads(text), indent=1).splitlines()  # key order kept: it is part of the output
    except ValueError:
        return text.splitlines()


def compare(recorded: str, replayed: str) -> Comparison:
    """Byte-for-byte identity; the diff is over pretty-printed JSON so a person can read it (and
    over the raw text when the pretty forms agree, so a difference is never shown as empty)."""
    if recorded == replayed:
        return Comparison(True, recorded, replayed, "")
    a, b = _pretty(recorded), _pretty(replayed)
    if a == b:
        a, b = [recorded], [replayed]
    diff = "\n".join(difflib.unified_diff(a, b, "recorded", "replayed", lineterm=""))
    return Comparison(False, recorded, replayed, diff)
