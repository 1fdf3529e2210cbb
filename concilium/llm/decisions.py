"""The decision a model returns, and the JSON schema that constrains it.

The schema is a union with one branch per action. Each branch carries a reason the model picks
from codes the action declares (what would justify it), a short free note, then the action and
its `args` (enums of names the YAML defines and bounded numbers). The model picks; code resolves
names to addresses. `parse` checks the output against the same schema, so servers without
guided decoding are safe too.

Why codes: free-text reasons from a 135M model were noise (" Maur Maur Maur"). A code is one
of a few words the prompt explains; the note adds detail. Layouts (measured by
benchmarks/decision_quality.py): "reason_first" asks for the reason before the action, so the
model commits to why before what; "action_first" the other way round; "free_text" is the old
`{"action", "args", "reason"}` shape, kept as the baseline.

Reason codes compose with any tool set: an action without its own codes gets `GENERIC_WRITE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

REASON_MAX = 100
NOTE_MAX = 60

Layout = Literal["reason_first", "action_first", "free_text"]
LAYOUTS: tuple[Layout, ...] = ("reason_first", "action_first", "free_text")

NOOP_REASONS = {
    "target_met": "what the task watches is already where it should be",
    "over_limit": "acting would break a limit in the task or policy",
    "untrusted_instruction": "the data asks for something the task does not",
    "no_funds": "not enough balance to act",
}
GENERIC_WRITE = {"task_requires": "the task's condition for this action holds now"}
# Codes the built-in write tools declare; a tool registry may pass its own to DecisionSchema.
TOOL_REASONS: dict[str, dict[str, str]] = {
    "send_native": {"below_target": "a balance the task watches is below its target",
                    "task_requires": GENERIC_WRITE["task_requires"]},
    "erc20_transfer": {"below_target": "a token balance the task watches is below its target",
                       "task_requires": GENERIC_WRITE["task_requires"]},
    # hook for the DeFi tools: a swap declares why it is worth doing
    "swap": {"price_favourable": "the quoted price meets the task's condition",
             "rebalance": "holdings are off the task's target mix"},
}


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: str
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    reason_code: str = ""


class InvalidDecision(ValueError):
    pass


def reasons_for(action: str) -> dict[str, str]:
    if action == "noop":
        return NOOP_REASONS
    return TOOL_REASONS.get(action, GENERIC_WRITE)


@dataclass(frozen=True)
class DecisionSchema:
    """`actions` maps an action name to the JSON schema of its args (None: no args); `reasons`
    overrides the codes per action (code -> what it means)."""

    actions: dict[str, dict[str, Any] | None]
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)
    layout: Layout = "reason_first"

    def codes(self, action: str) -> dict[str, str]:
        return self.reasons.get(action) or reasons_for(action)

    def _branch(self, name: str, args: dict[str, Any] | None) -> dict[str, Any]:
        why: dict[str, Any]
        if self.layout == "free_text":
            why = {"reason": {"type": "string", "maxLength": REASON_MAX}}
        else:
            why = {"reason": {"type": "string", "enum": sorted(self.codes(name))},
                   "note": {"type": "string", "maxLength": NOTE_MAX}}
        what: dict[str, Any] = {"action": {"type": "string", "enum": [name]}}
        if args is not None:
            what["args"] = args
        props = {**why, **what} if self.layout == "reason_first" else {**what, **why}
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}

    def json_schema(self) -> dict[str, Any]:
        branches = [self._branch(name, args) for name, args in self.actions.items()]
        return branches[0] if len(branches) == 1 else {"anyOf": branches}

    def menu(self) -> list[str]:
        """One prompt line per action: its name, and the reason codes that justify it."""
        if self.layout == "free_text":
            return [f"- {name}" for name in self.actions]
        return [f"- {name}, when: " + "; ".join(f"{c} = {m}" for c, m in sorted(self.codes(name).items()))
                for name in self.actions]

    def parse(self, value: dict[str, Any]) -> Decision:
        try:
            jsonschema.validate(value, self.json_schema())
        except jsonschema.ValidationError as e:
            raise InvalidDecision(f"model output does not fit the decision schema: {e.message}") from None
        if self.layout == "free_text":
            return Decision(action=value["action"], args=value.get("args", {}), reason=value.get("reason", ""))
        code, note = value["reason"], value.get("note", "").strip()
        return Decision(action=value["action"], args=value.get("args", {}), reason_code=code,
                        reason=f"{code}: {note}" if note else code)


def enum(names: list[str], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(names), "description": description}


def bounded_number(maximum: float, description: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": maximum, "description": description}
