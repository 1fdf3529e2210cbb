"""How every benchmark ends: its figures as JSON on stdout, or a JSON error line (exit 1),
never a traceback. Not a benchmark itself."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Coroutine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from concilium.errors import ConciliumError  # noqa: E402


def emit(name: str, main: Coroutine[Any, Any, dict]) -> None:
    try:
        result = asyncio.run(main)
    except (ConciliumError, OSError, ValueError, TimeoutError) as e:
        result = {"benchmark": name, "error": f"{type(e).__name__}: {e}".splitlines()[0]}
    print(json.dumps(result, indent=2))
    sys.exit(1 if "error" in result else 0)
