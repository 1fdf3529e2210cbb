"""Concilium: autonomous onchain AI agents on open-weight models, with guardrails in code."""

from concilium.agents.agent import Agent
from concilium.errors import ConciliumError
from concilium.llm.decisions import Decision
from concilium.runtime import Runtime
from concilium.spec import Spec, load_spec, parse_spec

__all__ = ["Agent", "ConciliumError", "Decision", "Runtime", "Spec", "load_spec", "parse_spec"]
__version__ = "0.1.0"
