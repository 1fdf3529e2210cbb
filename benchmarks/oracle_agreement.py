"""Does consensus over small models mean anything? Asks the fixed question set
(benchmarks/scenarios/oracle_questions.yaml, known answers across bool, choice, uint and text) to
each model family exactly as an oracle node does (same prompt, JSON schema, temperature 0, fixed
seed, same encoding of the answer), then applies the contract's settlement rule to a mixed network
of N nodes where node i runs family i mod k. Prints JSON: per kind, the rate at which a quorum
formed and the rate at which the result was right, for the mixed network and for each model alone
(a network of N nodes all on that model), plus how often the quorum spanned two families.

Greedy decoding with a fixed seed makes every node on one model server give one answer, so each
family is asked once per question (the nodes' answers are that answer, copied per node); this
measures the models and the settlement rule, not the network transport (tests/test_oracle*.py do).

    .venv/bin/python benchmarks/oracle_agreement.py [--smollm2-url URL] [--gemma3-url URL] [--nodes 4] [--limit N]

A model whose URL is not given is started here (the bundled entry; both run at once).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from _report import emit  # noqa: E402
from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402

from concilium.errors import ModelRefused  # noqa: E402
from concilium.llm.client import ModelClient  # noqa: E402
from concilium.oracle.kinds import BadValue, Kind, answer_schema, encode_answer, encode_options, prompt_messages  # noqa: E402
from concilium.oracle.params import fault_tolerance  # noqa: E402
from concilium.stack.bundled import REGISTRY  # noqa: E402
from concilium.runtime import model_client  # noqa: E402
from concilium.spec import ModelSpec  # noqa: E402
from concilium.stack.embedded import EmbeddedStack  # noqa: E402

BUNDLED_KEY = {"smollm2": "smollm2", "gemma3": "gemma3-270m"}  # family -> bundled model entry

QUESTIONS = Path(__file__).resolve().parent / "scenarios" / "oracle_questions.yaml"


def load_questions(limit: int | None = None) -> list[dict]:
    qs = yaml.safe_load(QUESTIONS.read_text())["questions"]
    if limit:  # a stratified subset: the first `limit` of each kind
        per: dict[str, list] = defaultdict(list)
        for q in qs:
            if len(per[q["kind"]]) < limit:
                per[q["kind"]].append(q)
        qs = [q for k in per for q in per[k]]
    return qs


def expected(q: dict) -> bytes:
    kind, options = Kind.parse(q["kind"]), encode_options([str(x) for x in q.get("labels") or []])
    return encode_answer(kind, str(q["answer"]) if kind is Kind.CHOICE else q["answer"], options)


async def answer(model: ModelClient, q: dict) -> bytes | None:
    """The value a node on this model would sign (None: it would sign `unanswerable`)."""
    kind, options = Kind.parse(q["kind"]), encode_options([str(x) for x in q.get("labels") or []])
    msgs = [SystemMessage(c) if r == "system" else HumanMessage(c) for r, c in prompt_messages(q["prompt"], kind, options)]
    try:
        out = await model.decide(msgs, answer_schema(kind, options), schema_name="answer")
        return encode_answer(kind, out.value.get("answer"), options)
    except (ModelRefused, BadValue):
        return None


def settle(kind: Kind, values: list[bytes | None], quorum: int) -> bytes | None:
    """The contract's rule over the nodes' revealed values: exact kinds need a quorum of one value;
    numeric kinds a quorum of observations, the lower median being the result."""
    got = [v for v in values if v is not None]
    if kind.numeric:
        if len(got) < quorum:
            return None
        nums = sorted(int.from_bytes(v, "big") for v in got)
        return nums[(len(nums) - 1) // 2].to_bytes(32, "big")
    if not got:
        return None
    value, count = Counter(got).most_common(1)[0]
    return value if count >= quorum else None


async def main(args) -> dict:
    families = [f.strip() for f in args.models.split(",")]
    unknown = [f for f in families if f not in BUNDLED_KEY]
    if unknown:
        raise ValueError(f"unknown model family {unknown[0]!r}; choose from {', '.join(BUNDLED_KEY)}")
    urls = {"smollm2": args.smollm2_url, "gemma3": args.gemma3_url}
    stack = EmbeddedStack(Path(tempfile.mkdtemp(prefix="concilium-agreement-")), progress=lambda m: print(m, file=sys.stderr))
    try:
        models = {}
        for f in families:
            serve = f"bundled:{BUNDLED_KEY[f]}"
            if urls[f] is not None:  # a running server; else the bundled model is started here
                stack.attach(serve, urls[f], REGISTRY[BUNDLED_KEY[f]].served_name)
            models[f] = await model_client(ModelSpec(serve=serve), stack, serve)
        return await agreement(args, families, models, {f: REGISTRY[BUNDLED_KEY[f]].served_name for f in families})
    finally:
        stack.stop()


async def agreement(args, families: list[str], models: dict[str, ModelClient], served: dict[str, str]) -> dict:
    n = args.nodes
    f_, quorum = fault_tolerance(n)
    questions = load_questions(args.limit)
    tallies: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    seconds: Counter = Counter()
    for q in questions:
        kind, want = Kind.parse(q["kind"]), expected(q)
        per_family = {}
        for fam, m in models.items():
            t0 = time.perf_counter()
            per_family[fam] = await answer(m, q)
            seconds[fam] += time.perf_counter() - t0
        nodes = [per_family[families[i % len(families)]] for i in range(n)]
        setups = {"mixed": nodes, **{f"{fam} alone": [v] * n for fam, v in per_family.items()}}
        for name, values in setups.items():
            result = settle(kind, values, quorum)
            t = tallies[name][q["kind"]]
            t["asked"] += 1
            t["quorum"] += result is not None
            t["right"] += result == want
        if len(families) > 1:
            agreeing = {fam for fam, v in per_family.items() if v is not None and v == settle(kind, nodes, quorum)}
            tallies["mixed"][q["kind"]]["cross_family"] += len(agreeing) > 1
    report = {}
    for name, by_kind in tallies.items():
        rows = {}
        for kind, t in by_kind.items():
            rows[kind] = {"asked": t["asked"], "quorum_rate": round(t["quorum"] / t["asked"], 3),
                          "right_rate": round(t["right"] / t["asked"], 3)}
            if name == "mixed" and len(families) > 1:
                rows[kind]["cross_family_rate"] = round(t["cross_family"] / t["asked"], 3)
        total = sum(t["asked"] for t in by_kind.values())
        rows["all"] = {"asked": total, "quorum_rate": round(sum(t["quorum"] for t in by_kind.values()) / total, 3),
                       "right_rate": round(sum(t["right"] for t in by_kind.values()) / total, 3)}
        report[name] = rows
    return {"benchmark": "oracle_agreement", "nodes": n, "f": f_, "quorum": quorum,
            "families": {f: {"served": served[f], "nodes": sum(1 for i in range(n) if families[i % len(families)] == f),
                             "model_seconds": round(seconds[f], 1)} for f in families},
            "questions": len(questions), "subset": bool(args.limit), "results": report}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="smollm2,gemma3")
    p.add_argument("--smollm2-url", default=os.environ.get("CONCILIUM_BENCH_VLLM_URL"), help="a running server (default: start the bundled model)")
    p.add_argument("--gemma3-url", default=None, help="a running server (default: start the bundled model)")
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--limit", type=int, default=None, help="ask only the first N questions of each kind")
    emit("oracle_agreement", main(p.parse_args()))
