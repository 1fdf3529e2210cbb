"""Tool-calling mode on the real stack: the bundled model calls tools through LangChain's
create_agent (strict schemas, required tool calls, our ChatML+Hermes template), and every write
goes through the same guard as structured mode."""

import json

from concilium.runtime import Runtime
from concilium.tools.langchain import langchain_tools
from tests.conftest import COLD, HOT, deploy_token, keeper_yaml, set_balance, spec_from

POLICY = """
  recipients: [hot_wallet]
  max_value_per_tx: 2 ether
  max_value_per_day: 0.001 ether
  token_limits: {usdc: {per_tx: 100}}
"""


def tools_yaml(token: str) -> str:
    return keeper_yaml(token, policy=POLICY).replace(
        "tools: [send_native, erc20_transfer]", "mode: tools\n    tools: [get_balance, erc20_balance, send_native]")


async def test_tool_mode_step_runs_and_its_writes_are_guarded(stack, vllm, chain, tmp_path):
    await set_balance(chain, HOT, 10**18)
    async with Runtime.open(spec_from(tools_yaml(await deploy_token(chain))), stack=stack, state_dir=tmp_path) as rt:
        keeper = rt.agents["treasury-keeper"]
        before = await chain.w3.eth.get_balance(HOT)
        day_limit = 10**15  # 0.001 ether
        for _ in range(3):
            r = await keeper.step()
            assert r.model_id and r.inputs_hash and r.prompt
            assert r.status in ("noop", "refused", "confirmed", "error"), (r.status, r.output, r.error)
            if r.action == "send_native" and int(r.value_wei) > day_limit:  # whatever the model wanted
                assert (r.status, r.rule) == ("refused", "max_value_per_day")
            if r.status == "error":
                assert "without" in r.error  # the loop ended without a decision: recorded, not raised
        spent = await keeper.store.spent_since(keeper.name, 0)
        assert spent.wei <= day_limit
        assert await chain.w3.eth.get_balance(HOT) - before == spent.wei


async def test_langchain_write_tools_go_through_the_guard(stack, chain, tmp_path):
    async with Runtime.open(spec_from(tools_yaml(await deploy_token(chain))), stack=stack, state_dir=tmp_path) as rt:
        keeper = rt.agents["treasury-keeper"]
        seen = []

        async def on_write(decision):
            rec = await keeper.propose(decision)
            seen.append(rec)
            return rec.status

        async def on_finish(reason):
            return "done"

        tools = {t.name: t for t in langchain_tools(keeper.ctx, on_write, on_finish)}
        assert set(tools) == {"get_balance", "erc20_balance", "send_native", "finish"}
        assert tools["send_native"].return_direct and not tools["get_balance"].return_direct
        schema = tools["send_native"].args_schema
        assert schema["properties"]["args"]["properties"]["to"]["enum"] == ["hot_wallet"]  # the first fence
        balance = json.loads(await tools["get_balance"].ainvoke({"address": "hot_wallet"}))
        assert balance["address"] == "hot_wallet" and int(balance["balance_wei"]) > 0
        out = await tools["send_native"].ainvoke({"args": {"to": "hot_wallet", "amount": 0.5}, "reason": "top up"})
        assert out == "refused" and seen[-1].rule == "max_value_per_day"
        out = await tools["send_native"].ainvoke({"args": {"to": "cold_storage", "amount": 0.0001}, "reason": "x"})
        assert out == "refused" and seen[-1].rule == "recipient"
        assert await chain.w3.eth.get_balance(COLD) >= 0
