"""Each policy rule refuses on its own, on the real chain, and the refusal is recorded with its
rule. Decisions are proposed directly: the guard must hold whatever produced them."""

import pytest

from concilium.llm.decisions import Decision
from concilium.runtime import Runtime
from tests.conftest import COLD, HOT, deploy_token, keeper_yaml, spec_from


@pytest.fixture
async def keeper(stack, chain, tmp_path):
    token = await deploy_token(chain)
    async with Runtime.open(spec_from(keeper_yaml(token)), stack=stack, state_dir=tmp_path) as rt:
        yield rt.agents["treasury-keeper"]


def send(to="hot_wallet", amount=1.0, action="send_native"):
    return Decision(action=action, args={"to": to, "amount": amount}, reason="test")


def tokens(amount, to="hot_wallet"):
    return Decision(action="erc20_transfer", args={"token": "usdc", "to": to, "amount": amount}, reason="test")


async def test_allowed_send_is_executed_and_recorded(keeper, chain):
    before = await chain.w3.eth.get_balance(HOT)
    r = await keeper.propose(send(amount=1.5))
    assert r.status == "confirmed" and r.tx_hash and r.block_number and r.gas_used == 21000
    assert await chain.w3.eth.get_balance(HOT) - before == 15 * 10**17


async def test_refuses_recipient_outside_allowlist(keeper, chain):
    before = await chain.w3.eth.get_balance(COLD)
    r = await keeper.propose(send(to="cold_storage"))
    assert (r.status, r.rule) == ("refused", "recipient")
    assert "not an allowed recipient" in r.verdict
    assert await chain.w3.eth.get_balance(COLD) == before


async def test_refuses_names_the_yaml_does_not_define(keeper):
    r = await keeper.propose(send(to="0x000000000000000000000000000000000000dEaD"))
    assert (r.status, r.rule) == ("refused", "input")


async def test_refuses_value_over_per_tx_limit(keeper):
    r = await keeper.propose(send(amount=2.5))
    assert (r.status, r.rule) == ("refused", "max_value_per_tx")


async def test_refuses_value_over_rolling_daily_limit(keeper):
    for _ in range(5):
        assert (await keeper.propose(send(amount=2))).status == "confirmed"
    r = await keeper.propose(send(amount=0.5))
    assert (r.status, r.rule) == ("refused", "max_value_per_day")
    assert "last 24 h" in r.verdict


async def test_refuses_tokens_over_per_tx_and_per_day_limits(keeper):
    assert (await keeper.propose(tokens(101))).rule == "token_per_tx"
    assert (await keeper.propose(tokens(100))).status == "confirmed"
    r = await keeper.propose(tokens(60))
    assert (r.status, r.rule) == ("refused", "token_per_day")


async def test_refuses_when_simulation_fails(stack, chain, tmp_path):
    token = await deploy_token(chain, owner=3, supply=10**18)  # the treasury holds none of it
    async with Runtime.open(spec_from(keeper_yaml(token)), stack=stack, state_dir=tmp_path) as rt:
        r = await rt.agents["treasury-keeper"].propose(tokens(5))
    assert (r.status, r.rule) == ("refused", "simulate")
    assert "revert" in r.verdict


async def test_refuses_above_max_gas_price(keeper, chain):
    await chain.w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(200 * 10**9)])
    await chain.w3.provider.make_request("evm_mine", [])
    try:
        r = await keeper.propose(send())
        assert (r.status, r.rule) == ("refused", "max_gas_price")
    finally:
        await chain.w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(10**9)])
        await chain.w3.provider.make_request("evm_mine", [])


async def test_refuses_tools_the_agent_does_not_have(keeper):
    r = await keeper.propose(Decision(action="write_contract", args={"contract": "usdc", "function": "approve", "inputs": {}}))
    assert (r.status, r.rule) == ("refused", "tool")


async def test_refuses_contract_functions_outside_the_policy(stack, chain, tmp_path):
    token = await deploy_token(chain)
    text = keeper_yaml(token).replace("tools: [send_native, erc20_transfer]", "tools: [write_contract]").replace(
        "recipients: [hot_wallet]", "recipients: [hot_wallet]\n      contracts: {usdc: [approve]}\n      spenders: {hot_wallet: {usdc: 10}}")
    async with Runtime.open(spec_from(text), stack=stack, state_dir=tmp_path) as rt:
        a = rt.agents["treasury-keeper"]
        r = await a.propose(Decision(action="write_contract", args={"contract": "usdc", "function": "transfer", "inputs": {"to": "cold_storage", "value": "1"}}))
        assert (r.status, r.rule) == ("refused", "contract")
        ok = await a.propose(Decision(action="write_contract", args={"contract": "usdc", "function": "approve", "inputs": {"spender": "hot_wallet", "value": "7"}}))
        assert ok.status == "confirmed", (ok.rule, ok.verdict)
        assert await a.ctx.contracts["usdc"].handle.functions.allowance(a.wallet.address, HOT).call() == 7


async def test_dry_run_sends_nothing(stack, chain, tmp_path):
    text = keeper_yaml(await deploy_token(chain)).replace("max_gas_price: 50 gwei", "max_gas_price: 50 gwei\n      dry_run: true")
    async with Runtime.open(spec_from(text), stack=stack, state_dir=tmp_path) as rt:
        a = rt.agents["treasury-keeper"]
        nonce = await chain.mined_nonce(a.wallet.address)
        r = await a.propose(send())
        assert r.status == "dry_run" and r.tx_hash is None
        assert await chain.mined_nonce(a.wallet.address) == nonce


async def test_refusals_do_not_count_towards_daily_limits(keeper):
    for _ in range(3):
        await keeper.propose(send(amount=5))  # refused per tx
    spent = await keeper.store.spent_since(keeper.name, 0)
    assert spent.wei == 0
