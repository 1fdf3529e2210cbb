"""The decision scenarios (benchmarks/scenarios/decisions.yaml) turned into what an agent would
send its model: each scenario becomes a real AgentSpec (parsed from YAML like any user's), the
agent's real decision schema (agents/agent.py `decision_schema`) and its real prompt
(agents/prompt.py). Shared by decision_quality.py and serving.py; not a benchmark itself.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from concilium.agents.agent import decision_schema  # noqa: E402
from concilium.agents.prompt import build_messages  # noqa: E402
from concilium.chain.client import ChainClient  # noqa: E402
from concilium.chain.wallets import dev_wallet  # noqa: E402
from concilium.llm.decisions import DecisionSchema, Layout  # noqa: E402
from concilium.spec import parse_spec  # noqa: E402
from concilium.tools.context import ToolContext  # noqa: E402
from concilium.seams.tool import TOOLS  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent / "scenarios" / "decisions.yaml"
SPEC = """
version: 1
models: {local: {serve: bundled}}
chains: {dev: {rpc: embedded}}
wallets: {treasury: {dev_account: 0}, hot: {dev_account: 1}}
addresses:
  treasury: {wallet: treasury}
  hot_wallet: {wallet: hot}
  cold_storage: "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
contracts:
  usdc: {address: "0x5FbDB2315678afecb367f032d93F642f64180aa3", abi: erc20}
  weth: {address: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", abi: weth9}
  router: {address: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0", abi: uniswap_v3_router}
  quoter: {address: "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9", abi: uniswap_v3_quoter}
  weth_usdc_pool: {address: "0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9", abi: uniswap_v3_pool}
agents: [%s]
"""


@dataclass
class Scenario:
    id: str
    kind: str
    expect: dict[str, Any]
    messages: list
    schema: DecisionSchema
    skipped: str | None = None  # why it is not scored (a tool not registered yet)


def load(layout: Layout = "reason_first", path: Path = SCENARIOS) -> list[Scenario]:
    doc = yaml.safe_load(path.read_text())
    d = doc["defaults"]
    chain = ChainClient(["http://127.0.0.1:9"])  # never contacted: schemas and prompts only
    wallets = {"treasury": dev_wallet(0), "hot": dev_wallet(1)}
    out = []
    for s in doc["scenarios"]:
        tools = s.get("tools", d["tools"])
        names = [t if isinstance(t, str) else next(iter(t)) for t in tools]
        missing = [t for t in names if t not in TOOLS or not TOOLS.get(t).writes]
        if missing:
            out.append(Scenario(s["id"], s["kind"], s["expect"], [], DecisionSchema({}), f"tool not registered: {', '.join(missing)}"))
            continue
        agent = {"name": "keeper", "model": "local", "chain": "dev", "wallet": "treasury",
                 "instructions": s.get("instructions", d["instructions"]), "tools": tools,
                 "policy": s.get("policy", d["policy"])}
        spec = parse_spec(SPEC % json.dumps(agent), base_dir=Path(__file__).resolve().parents[1])
        ctx = ToolContext.build(spec, spec.agents[0], chain, wallets)
        base = decision_schema(ctx)
        schema = DecisionSchema(base.actions, base.reasons, layout)
        messages = build_messages(spec.agents[0], s["observation"], schema.menu(), sorted(ctx.addresses))
        out.append(Scenario(s["id"], s["kind"], s["expect"], messages, schema))
    return out


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def readable(text: str) -> bool:
    """A note a person can read: a few real words, mostly letters, no word repeated over and
    over (the failure seen before: ' Maur Maur Maur', ')] Scholars Scholars')."""
    words = _WORD.findall(text)
    if len(words) < 2 or not text.isascii():
        return False
    letters = sum(c.isalpha() or c.isspace() for c in text) / len(text)
    most = max(words.count(w) for w in set(words))
    return letters >= 0.7 and most <= 2


def right_action(expect: dict[str, Any], value: dict[str, Any]) -> bool:
    if value.get("action") != expect["action"]:
        return False
    args = value.get("args", {})
    for key in ("to", "token", "sell"):
        if key in expect and args.get(key) != expect[key]:
            return False
    if "amount" in expect:
        lo, hi = expect["amount"]
        return isinstance(args.get("amount"), (int, float)) and lo <= args["amount"] <= hi
    return True


def valid_reason(expect: dict[str, Any], value: dict[str, Any], layout: Layout) -> bool:
    """Coded layouts: a code that fits the situation and a readable note. Free text: readable."""
    if layout == "free_text":
        return readable(value.get("reason", ""))
    return value.get("reason") in expect["reasons"] and readable(value.get("note", ""))
