"""Amounts at the edges, on the real anvil: zero, negative, non-finite, sub-unit and malformed
amounts are refused with rule `amount` (never sent, never counted, never left at `planned`);
limits hold exactly at the boundary for 6- and 18-decimal tokens and for ETH."""

from decimal import Decimal

import pytest

from concilium.runtime import Runtime
from tests.conftest import spec_from
from tests.guardkit import tool, world_on, world_yaml

BAD = [0, "0", 0.0, -1, "-0.5", float("nan"), float("inf"), float("-inf"), "NaN", "Infinity", "-1e-30", True, "abc", None, [1]]


@pytest.fixture(scope="module")
async def world(anvil):
    return await world_on(anvil.url)


@pytest.fixture
async def keeper(stack, world, tmp_path):
    async with Runtime.open(spec_from(world_yaml(world)), stack=stack, state_dir=tmp_path) as rt:
        yield rt.agents["keeper"]


async def refused_without_trace(keeper, decision, rule="amount"):
    nonce = await keeper.chain.w3.eth.get_transaction_count(keeper.wallet.address)
    r = await keeper.propose(decision)
    assert (r.status, r.rule) == ("refused", rule), (r.status, r.rule, r.verdict, r.error)
    assert r.tx_hash is None
    assert await keeper.chain.w3.eth.get_transaction_count(keeper.wallet.address) == nonce
    assert (await keeper.store.spent_since(keeper.name, 0)).sent == {}
    return r


@pytest.mark.parametrize("amount", BAD, ids=repr)
async def test_guard_refuses_bad_amounts_for_every_tool(keeper, amount):
    for d in (tool("send_native", to="hot_wallet", amount=amount),
              tool("erc20_transfer", token="usdc", to="hot_wallet", amount=amount),
              tool("approve", token="dai", spender="hot_wallet", amount=amount)):
        await refused_without_trace(keeper, d)


async def test_guard_refuses_sub_unit_amounts_per_token_decimals(keeper):
    await refused_without_trace(keeper, tool("erc20_transfer", token="usdc", to="hot_wallet", amount="0.0000001"))
    await refused_without_trace(keeper, tool("erc20_transfer", token="usdc", to="hot_wallet", amount="1.0000001"))
    await refused_without_trace(keeper, tool("erc20_transfer", token="dai", to="hot_wallet", amount="0.0000000000000000001"))
    await refused_without_trace(keeper, tool("send_native", to="hot_wallet", amount="0.0000000000000000001"))
    r = await refused_without_trace(keeper, tool("write_contract", contract="usdc", function="transfer",
                                                 inputs={"to": "hot_wallet", "value": {"amount": "0.0000001", "token": "usdc"}}))
    assert "below one base unit" in r.verdict


async def test_one_base_unit_is_sent_and_counted(keeper, world):
    for d in (tool("erc20_transfer", token="usdc", to="hot_wallet", amount="0.000001"),
              tool("erc20_transfer", token="dai", to="hot_wallet", amount="0.000000000000000001"),
              tool("send_native", to="hot_wallet", amount="0.000000000000000001")):
        r = await keeper.propose(d)
        assert r.status == "confirmed", (r.rule, r.verdict)
    assert (await keeper.store.spent_since(keeper.name, 0)).sent == {world.usdc: 1, world.dai: 1, "ETH": 1}


@pytest.mark.parametrize("token,unit", [("usdc", "0.000001"), ("dai", "0.000000000000000001")])
async def test_token_limits_hold_exactly_at_the_boundary(keeper, world, token, unit):
    over = tool("erc20_transfer", token=token, to="hot_wallet", amount=str(100 + Decimal(unit)))
    assert (await keeper.propose(over)).rule == "token_per_tx"
    assert (await keeper.propose(tool("erc20_transfer", token=token, to="hot_wallet", amount=100))).status == "confirmed"
    assert (await keeper.propose(tool("erc20_transfer", token=token, to="hot_wallet", amount=50))).status == "confirmed"  # 150: at per_day
    r = await keeper.propose(tool("erc20_transfer", token=token, to="hot_wallet", amount=unit))
    assert (r.status, r.rule) == ("refused", "token_per_day")


async def test_eth_limits_hold_to_the_wei(keeper):
    r = await keeper.propose(tool("send_native", to="hot_wallet", amount="1.000000000000000001"))
    assert r.rule == "max_value_per_tx"
    assert (await keeper.propose(tool("send_native", to="hot_wallet", amount=1))).status == "confirmed"
    assert (await keeper.propose(tool("send_native", to="hot_wallet", amount=1))).status == "confirmed"
    r = await keeper.propose(tool("send_native", to="hot_wallet", amount="0.000000000000000001"))
    assert (r.status, r.rule) == ("refused", "max_value_per_day")


async def test_approval_cap_holds_exactly(keeper):
    assert (await keeper.propose(tool("approve", token="dai", spender="hot_wallet", amount="10.000000000000000001"))).rule == "max_approval"
    assert (await keeper.propose(tool("approve", token="dai", spender="hot_wallet", amount=10))).status == "confirmed"


async def test_the_ledger_holds_what_the_receipt_shows(keeper, world):
    r = await keeper.propose(tool("erc20_transfer", token="usdc", to="hot_wallet", amount="2.5"))
    assert r.status == "confirmed"
    d = r.as_dict()
    assert d["ledger"] == {"sent": {world.usdc: "2500000"}, "granted": {}}
    assert d["flows"] == [{"kind": "out", "asset": world.usdc, "counterparty": keeper.ctx.address("hot_wallet"),
                           "amount": "2500000", "standard": "erc20"}]
    assert "2.5 usdc" not in (r.verdict or "")


async def test_write_contract_takes_integers_beyond_2_53(keeper, world):
    big = str(2**200)
    r = await keeper.propose(tool("write_contract", contract="dai", function="approve", inputs={"spender": "hot_wallet", "value": big}))
    assert (r.status, r.rule) == ("refused", "max_approval")  # encoded and simulated, not capped or rounded
    assert f"approves {2**200 // 10**18}.{2**200 % 10**18:018d}".rstrip("0") in r.verdict
    r = await keeper.propose(tool("write_contract", contract="dai", function="transfer", inputs={"to": "hot_wallet", "value": str(2**256)}))
    assert (r.status, r.rule) == ("refused", "input") and "does not fit uint256" in r.verdict
