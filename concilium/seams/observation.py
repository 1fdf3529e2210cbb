"""The observation seam: one kind of read an agent's `observe:` list may hold.

An observation is one module in `concilium/tools/observations/` defining
`OBSERVATION = Observation(...)` (or registered under the entry-point group
`concilium.observations`). It declares:

- `name`: its YAML key (`- balance: hot_wallet`);
- `options`: the type of the YAML value (a pydantic model, `str`, `bool`), validated with the file;
- `read(ctx, opts)`: a `chain.reads.Read` (batched with the other reads in one round trip) or an
  awaitable (run beside the batch);
- `present(ctx, opts, value) -> (label, value)`: what the model sees, as bounded JSON data;
- `check(spec, opts) -> [(loc, message)]`: names the YAML must define (loc relative to the item).

Like the tools, these modules import nothing that imports `concilium.spec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

from concilium.registry import Registry

# Higher layers (spec, context, agent) appear in annotations only, as strings: this module sits
# below them, since spec is built from the registry.


@dataclass(frozen=True)
class Observation:
    name: str
    options: Any
    read: Callable[["ToolContext", Any], Any]
    present: Callable[["ToolContext", Any, Any], Awaitable[tuple[str, Any]]]
    check: Callable[["Spec", Any], Iterable[tuple[tuple, str]]] | None = None


OBSERVATIONS: Registry[Observation] = Registry(
    "observation", "concilium.tools.observations", "OBSERVATION", "concilium.observations")
