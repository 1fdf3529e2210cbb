"""The README's list of tools, observations and triggers, rendered from the registries so the
docs never repeat (or miss) a name. Each tool's entry is its description and the YAML example
in its module's docstring (the indented block).

    python -m concilium.tools.docs README.md     # rewrite the block between the markers
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from concilium.triggers import TRIGGERS
from concilium.seams.observation import OBSERVATIONS
from concilium.seams.tool import TOOLS

BEGIN, END = "<!-- registry:begin (python -m concilium.tools.docs README.md) -->", "<!-- registry:end -->"


def _example(fn) -> str:
    doc = sys.modules[fn.__module__].__doc__ or ""
    block = [line for line in doc.splitlines() if line.startswith("    ")]
    return textwrap.dedent("\n".join(block)).strip()


def markdown() -> str:
    lines = ["| tool | kind | what it does | YAML |", "| --- | --- | --- | --- |"]
    for t in TOOLS:
        example = "<br>".join(f"`{line}`" for line in (_example(t.build or t.read) or f"tools: [{t.name}]").splitlines())
        lines.append(f"| `{t.name}` | {'write' if t.writes else 'read'} | {t.description} | {example} |")
    lines.append("")
    lines.append("Observations (`observe:` items): " + ", ".join(f"`{o.name}`" for o in OBSERVATIONS) + ". "
                 "Schedule triggers (`schedule:`): " + ", ".join(f"`{t.name}`" for t in TRIGGERS) + ".")
    return "\n".join(lines)


def rewrite(path: Path) -> None:
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{markdown()}\n{END}{tail}")


if __name__ == "__main__":
    rewrite(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
