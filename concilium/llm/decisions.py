"""The decision a model returns, and the JSON schema that constrains it.

The schema is a union with one branch per action: `{"action": "noop", "reason": ...}` or
`{"action": "send_native", "args": {...}, "reason": ...}`, where `args` holds enums of names the
YAML defines and bounded numbers. The model picks; code resolves names to addresses. `parse`
checks the output against the same schema, so servers without guided decoding are safe too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

REASON_MAX = 100


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: str
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


class InvalidDecision(ValueError):
    pass


@dataclass(frozen=True)
class DecisionSchema:
    """`actions` maps an action name to the JSON schema of its args (None: no args)."""

    actions: dict[str, dict[str, Any] | None]

    def json_schema(self) -> dict[str, Any]:
        branches = []
        for name, args in self.actions.items():
            props: dict[str, Any] = {"action": {"type": "string", "enum": [name]}}
            required = ["action"]
            if args is not None:
                props["args"] = args
                required.append("args")
            props["reason"] = {"type": "string", "maxLength": REASON_MAX}
            required.append("reason")
            branches.append({"type": "object", "properties": props, "required": required, "additionalProperties": False})
        return branches[0] if len(branches) == 1 else {"anyOf": branches}

    def parse(self, value: dict[str, Any]) -> Decision:
        try:
            jsonschema.validate(value, self.json_schema())
        except jsonschema.ValidationError as e:
            raise InvalidDecision(f"model output does not fit the decision schema: {e.message}") from None
        return Decision(action=value["action"], args=value.get("args", {}), reason=value.get("reason", ""))


def enum(names: list[str], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(names), "description": description}


def bounded_number(maximum: float, description: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": maximum, "description": description}
