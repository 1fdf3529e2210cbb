"""The tool seam: what a tool declares, and the registry that holds every tool.

A tool is one module in `concilium/tools/builtin/` defining `TOOL = Tool(...)` (or a module of
another package registered under the entry-point group `concilium.tools`). It declares:

- `name`, `description`: what the model and the docs see;
- `schema(ctx) -> dict`: the JSON schema of its arguments, built from the agent's YAML (enums of
  names, bounded amounts); the decision schema and the LangChain adapter use it as is;
- `build(ctx, args) -> TxIntent` for a write tool: the exact transaction, nothing signed;
  `read(ctx, args) -> dict` for a read tool: JSON-able data for the model;
- `options`: an optional pydantic model for YAML options (`tools: [{swap: {fee: 3000}}]`),
  read back with `ctx.options(name)`;
- `amounts`: its amount arguments and the decimal places at which two committee members'
  decisions count as the same (concilium/committee/canonical.py);
- `check(spec, agent) -> [(loc, message)]`: YAML problems (loc relative to the agent), run with
  the other cross-reference checks when the file is loaded.

`build` raises `ToolInputError` (rule `input`) for names the YAML does not define and
`AmountRefused` (rule `amount`) for zero, negative, non-finite or sub-unit amounts; use
`concilium.tools.args` for both. The intent says only what to send: the guard simulates it and
judges its effects (`concilium/tools/guard.py`), so a tool cannot under-declare what it does.
`min_received` lets a tool (a swap) state the least the wallet must receive, per asset.

This module and the tool modules import nothing that imports `concilium.spec`, so the spec can
list the tools while validating a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable

from pydantic import BaseModel

from concilium.registry import Registry

# Higher layers (spec, context, agent) appear in annotations only, as strings: this module sits
# below them, since spec is built from the registry.


@dataclass(frozen=True)
class TxIntent:
    """The exact transaction a write tool asks for. `contract`/`function` name what is called
    (checked against `policy.contracts`); `min_received` maps an asset address (or "ETH") to the
    least the wallet must receive, in base units."""

    tool: str
    to: str
    data: str = "0x"
    value_wei: int = 0
    summary: str = ""
    contract: str | None = None
    function: str | None = None
    min_received: dict[str, int] = field(default_factory=dict)

    def tx(self) -> dict[str, Any]:
        return {"to": self.to, "value": self.value_wei, "data": self.data}


class ToolInputError(ValueError):
    """The decision names something the YAML does not define, or is malformed (rule `input`)."""

    rule = "input"


class AmountRefused(ToolInputError):
    """Zero, negative, non-finite, or below one base unit (rule `amount`)."""

    rule = "amount"


Problems = Iterable[tuple[tuple, str]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    schema: Callable[["ToolContext"], dict[str, Any]]
    build: Callable[["ToolContext", dict[str, Any]], Awaitable[TxIntent]] | None = None
    read: Callable[["ToolContext", dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    options: type[BaseModel] | None = None
    check: Callable[["Spec", "AgentSpec"], Problems] | None = None
    amounts: dict[str, int] = field(default_factory=dict)  # amount argument -> decimal places two decisions agree at (committees)

    def __post_init__(self) -> None:
        if (self.build is None) == (self.read is None):
            raise ValueError(f"tool {self.name!r} needs exactly one of build (a write) or read")

    @property
    def writes(self) -> bool:
        return self.build is not None


TOOLS: Registry[Tool] = Registry("tool", "concilium.tools.builtin", "TOOL", "concilium.tools")
