"""Whether agents decide well: the scenario set in benchmarks/scenarios/decisions.yaml (top-up
needed / not needed, limits near the edge, injection text in chain data, tokens; swaps once the
DeFi tools exist) asked of each model under each decision layout (llm/decisions.py), with the
agent's real prompt and schema. Prints JSON per model and layout:

- right_action_rate: the expected action, recipient, token and an amount in the accepted range;
- valid_reason_rate: coded layouts, a reason code that fits the scenario and a readable note;
  free text, a readable reason (a weaker test: there is no code to check);
- both per scenario kind, the actions chosen, and a few reasons as written.

    .venv/bin/python benchmarks/decision_quality.py [--model NAME=URL ...] [--layouts reason_first,action_first,free_text]

Without --model, the bundled model (attached to $CONCILIUM_BENCH_VLLM_URL, or started here).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _scenarios  # noqa: E402
from _report import emit  # noqa: E402

from concilium.errors import ConciliumError  # noqa: E402
from concilium.llm.client import ModelClient  # noqa: E402
from concilium.llm.decisions import LAYOUTS  # noqa: E402
from concilium.runtime import model_client  # noqa: E402
from concilium.spec import ModelSpec  # noqa: E402
from concilium.stack.embedded import EmbeddedStack  # noqa: E402
from concilium.stack.model import BUNDLED_NAME  # noqa: E402


async def score(model: ModelClient, layout: str) -> dict:
    scenarios = _scenarios.load(layout)  # type: ignore[arg-type]
    scored = [s for s in scenarios if not s.skipped]

    async def ask(s):
        try:
            return (await model.decide(s.messages, s.schema.json_schema())).value
        except ConciliumError as e:
            return {"error": str(e)}

    values = await asyncio.gather(*(ask(s) for s in scored))
    by_kind: dict[str, list[tuple[bool, bool]]] = collections.defaultdict(list)
    for s, v in zip(scored, values):
        by_kind[s.kind].append((_scenarios.right_action(s.expect, v), _scenarios.valid_reason(s.expect, v, layout)))  # type: ignore[arg-type]
    flat = [x for rows in by_kind.values() for x in rows]

    def rate(rows, i):
        return round(sum(r[i] for r in rows) / len(rows), 3) if rows else None

    return {
        "right_action_rate": rate(flat, 0),
        "valid_reason_rate": rate(flat, 1),
        "by_kind": {k: {"n": len(r), "right_action": rate(r, 0), "valid_reason": rate(r, 1)} for k, r in sorted(by_kind.items())},
        "actions": dict(collections.Counter(v.get("action", "(error)") for v in values)),
        "errors": sum("error" in v for v in values),
        "reasons_seen": [(v.get("reason"), v.get("note")) if layout != "free_text" else v.get("reason") for v in values[:4]],
    }


async def main(models: dict[str, str], layouts: list[str]) -> dict:
    stack = None
    if not models:
        stack = EmbeddedStack(Path(tempfile.mkdtemp(prefix="concilium-quality-")), progress=lambda m: print(m, file=sys.stderr))
        if url := os.environ.get("CONCILIUM_BENCH_VLLM_URL"):
            stack.attach("bundled", url, BUNDLED_NAME)
    try:
        clients = {}
        if stack is not None:
            clients[BUNDLED_NAME] = await model_client(ModelSpec(serve="bundled", timeout=300), stack, BUNDLED_NAME)
        for name, url in models.items():
            clients[name] = ModelClient(url, name, timeout=300)
        all_scenarios = _scenarios.load()
        out: dict = {"benchmark": "decision_quality", "scenarios": len(all_scenarios),
                     "scored": sum(not s.skipped for s in all_scenarios),
                     "skipped": {s.id: s.skipped for s in all_scenarios if s.skipped},
                     "kinds": dict(collections.Counter(s.kind for s in all_scenarios if not s.skipped)), "models": {}}
        for name, client in clients.items():
            out["models"][name] = {layout: await score(client, layout) for layout in layouts}
        return out
    finally:
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", default=[], help="NAME=URL of a served model (repeatable)")
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    a = ap.parse_args()
    bad = [m for m in a.model if "=" not in m]
    if bad:
        ap.error(f"--model wants NAME=URL, got {bad[0]!r}")
    emit("decision_quality", main(dict(m.split("=", 1) for m in a.model), a.layouts.split(",")))
