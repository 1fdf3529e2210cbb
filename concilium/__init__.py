"""Concilium: autonomous onchain AI agents on open-weight models, with guardrails in code.

The SDK names are imported on first use, so `import concilium` (and every CLI command that
does not need web3, langchain or the model) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Agent": "concilium.agents.agent",
    "Committee": "concilium.committee.sdk",
    "ConciliumError": "concilium.errors",
    "Decision": "concilium.llm.decisions",
    "Runtime": "concilium.runtime",
    "Spec": "concilium.spec",
    "load_spec": "concilium.spec",
    "parse_spec": "concilium.spec",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'concilium' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
