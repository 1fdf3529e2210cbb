"""The seams as registries: tools, observations and triggers are declared once and everything
else (spec, decision schema, LangChain adapter, scheduler) reads them. Adding one is one
declaration, and the spec stays importable without the chain stack."""

import json
import subprocess
import sys

import httpx
import pytest

from concilium.errors import SpecError
from concilium.llm.decisions import DecisionSchema
from concilium.runtime import Runtime
from concilium.triggers import TRIGGERS
from concilium.spec import parse_spec
from concilium.seams.observation import OBSERVATIONS
from concilium.seams.tool import TOOLS, Tool, TxIntent
from tests.conftest import ROOT, keeper_yaml, spec_from
from tests.guardkit import World, world_yaml


def test_builtins_are_discovered_one_module_each():
    assert {"send_native", "erc20_transfer", "write_contract", "approve", "revoke", "allowance", "get_balance"} <= set(TOOLS.names())
    assert {"balance", "erc20_balance", "call", "events", "block"} <= set(OBSERVATIONS.names())
    assert {"every", "cron", "on_block", "on_event"} <= set(TRIGGERS.names())
    assert all(t.writes == (t.build is not None) for t in TOOLS)


def test_the_spec_lists_what_the_registries_hold():
    text = keeper_yaml().replace("tools: [send_native, erc20_transfer]", "tools: [send_native, teleport]")
    with pytest.raises(SpecError, match="unknown tool 'teleport'; known: " + ", ".join(TOOLS.names())):
        parse_spec(text)


def test_a_registered_tool_is_usable_from_yaml_with_options():
    from pydantic import BaseModel

    class Options(BaseModel):
        fee: int

    async def build(ctx, args):
        return TxIntent("noop_tool", ctx.address("hot_wallet"))

    TOOLS.register(Tool("test_extension_tool", "a test tool", lambda ctx: {"type": "object"}, build=build, options=Options))
    try:
        spec = parse_spec(keeper_yaml().replace("tools: [send_native, erc20_transfer]", "tools: [send_native, {test_extension_tool: {fee: 3000}}]"))
        assert spec.agents[0].tools == ["send_native", "test_extension_tool"]
        assert spec.agents[0].tool_options["test_extension_tool"] == {"fee": 3000}
        bad = keeper_yaml().replace("tools: [send_native, erc20_transfer]", "tools: [send_native, {test_extension_tool: {fee: x}}]")
        with pytest.raises(SpecError, match="options of test_extension_tool"):
            parse_spec(bad)
    finally:
        TOOLS.unregister("test_extension_tool")


def test_validating_a_spec_imports_no_chain_or_model_stack():
    code = ("import sys, concilium.spec as s; s.parse_spec(sys.stdin.read()); "
            "print(sorted(m for m in ('web3', 'langchain_core', 'torch', 'concilium.tools.context') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], input=keeper_yaml(), capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# the DeFi tools need their venue and market named (no code at these addresses: only schemas are built)
DEFI_OPTIONS = {"swap": "{swap: {router: router, quoter: quoter}}",
                "supply": '{supply: {market: "0x%s", loan: usdc, collateral: weth}}' % ("ab" * 32)}
DEFI_CONTRACTS = "".join(f'  {n}: {{address: "0x{c * 40}", abi: {abi}}}\n' for n, c, abi in (
    ("weth", "4", "weth9"), ("router", "5", "uniswap_v3_router"), ("quoter", "6", "uniswap_v3_quoter"), ("morpho", "7", "morpho_blue")))


async def test_every_write_tool_schema_compiles_on_the_served_model(stack, vllm, tmp_path):
    """The served grammar engine accepts the whole decision schema (it once crashed on
    bounded repetitions in patterns and refused pattern+maxLength)."""
    w = World("0x" + "1" * 40, "0x" + "2" * 40, "0x" + "3" * 40)
    writes = [t.name for t in TOOLS if t.writes]
    text = world_yaml(w, tools="[" + ", ".join(DEFI_OPTIONS.get(n, n) for n in writes) + "]", policy_extra="max_slippage_bps: 50")
    text = text.replace("contracts:\n", "contracts:\n" + DEFI_CONTRACTS, 1).replace("recipients: [hot_wallet]", "recipients: [hot_wallet, weth, morpho]")
    text = text.replace("limits: {ETH: {per_tx: 1, per_day: 2},", "limits: {ETH: {per_tx: 1, per_day: 2}, weth: {per_tx: 1},")
    async with Runtime.open(spec_from(text), stack=stack, state_dir=tmp_path) as rt:
        schema: DecisionSchema = rt.agents["keeper"].schema
        assert set(schema.actions) == {"noop", *writes}
        async with httpx.AsyncClient(timeout=120) as c:
            r = await c.post(vllm.url + "/chat/completions", json={
                "model": vllm.served_name, "messages": [{"role": "user", "content": "decide"}], "max_tokens": 40,
                "response_format": {"type": "json_schema", "json_schema": {"name": "decision", "schema": schema.json_schema(), "strict": True}}})
    assert r.status_code == 200, r.text[:300]
    json.dumps(schema.json_schema())


def test_the_readme_lists_what_the_registries_hold():
    from concilium.tools.docs import BEGIN, END, markdown

    text = (ROOT / "README.md").read_text()
    assert text.split(BEGIN, 1)[1].split(END, 1)[0].strip() == markdown().strip(), "run: python -m concilium.tools.docs README.md"
