"""Where the pinned node tools live: the repo's (or a given) node_modules from `npm ci`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from concilium.errors import StackError


def _node_modules() -> list[Path]:
    roots = []
    if env := os.environ.get("CONCILIUM_NODE_MODULES"):
        roots.append(Path(env))
    here = Path(__file__).resolve()
    roots += [p / "node_modules" for p in here.parents]
    roots.append(Path.cwd() / "node_modules")
    return roots


def foundry_binary(tool: str) -> Path:
    """Path to the native anvil/forge/cast binary (not the node wrapper, whose PID is not the tool's)."""
    for root in _node_modules():
        p = root / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool
        if p.exists():
            return p
    found = shutil.which(tool)
    if found:
        return Path(found)
    raise StackError(f"{tool} not found; run `make install` (it installs @foundry-rs/{tool} with npm)")
