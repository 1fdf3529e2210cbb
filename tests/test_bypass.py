"""The bypass suite, as the attacker: every way to move the wallet's tokens or ETH, or hand out
an allowance, tried through write_contract (any ABI, arbitrary calldata in multicalls) and
through the dedicated tools via `propose` (no schema in the way), with each argument the policy
does not allow. The guard judges the simulated effects, so none of it reaches the chain: the
wallet's nonce, every outside balance and every allowance stay as they were."""

import pytest

from concilium.chain.abi import artifact
from concilium.chain.wallets import dev_wallet
from concilium.runtime import Runtime
from concilium.seams.tool import TOOLS, Tool, TxIntent
from tests.conftest import COLD, spec_from
from tests.guardkit import THIEF, call, snapshot, tool, world_on, world_yaml

MAX = str(2**256 - 1)


@pytest.fixture(scope="module")
async def world(anvil):
    """Shared by the module (every test compares the state after with the state before); the
    wallet has approved itself, so transferFrom(wallet, x) would go through."""
    return await world_on(anvil.url, self_approved=True)


@pytest.fixture
async def keeper(stack, world, tmp_path):
    async with Runtime.open(spec_from(world_yaml(world)), stack=stack, state_dir=tmp_path) as rt:
        yield rt.agents["keeper"]


def data(agent, token: str, fn: str, *args) -> str:
    return agent.ctx.contracts[token].handle.encode_abi(fn, args=list(args))


ATTACKS = {
    # write_contract: the token's own functions with arguments outside the policy
    "transfer to a stranger": (lambda a: call("usdc", "transfer", to="cold_storage", value="5"), "recipient"),
    "transfer to the thief in 18 decimals": (lambda a: call("dai", "transfer", to="thief", value=str(10**18)), "recipient"),
    "transfer above per_tx": (lambda a: call("usdc", "transfer", to="hot_wallet", value=str(100 * 10**6 + 1)), "token_per_tx"),
    "transfer above per_tx as token amount": (lambda a: call("usdc", "transfer", to="hot_wallet", value={"amount": "100.000001", "token": "usdc"}), "token_per_tx"),
    "transferFrom self to a stranger": (lambda a: call("usdc", "transferFrom", **{"from": "treasury", "to": "thief", "value": "5"}), "recipient"),
    "approve a stranger": (lambda a: call("usdc", "approve", spender="thief", value="1"), "spender"),
    "approve over the cap": (lambda a: call("usdc", "approve", spender="hot_wallet", value=str(10 * 10**6 + 1)), "max_approval"),
    "approve unlimited": (lambda a: call("usdc", "approve", spender="hot_wallet", value=MAX), "unlimited_approval"),
    "approve a token with no spender entry": (lambda a: call("dai", "approve", spender="vault", value="1"), "spender"),
    "increaseAllowance to a stranger": (lambda a: call("usdc", "increaseAllowance", spender="cold_storage", added="1"), "spender"),
    "increaseAllowance over the cap": (lambda a: call("usdc", "increaseAllowance", spender="hot_wallet", added=str(10 * 10**6 + 1)), "max_approval"),
    "setApprovalForAll to the thief": (lambda a: call("usdc", "setApprovalForAll", operator="thief", approved=True), "spender"),
    "setApprovalForAll to an allowed spender": (lambda a: call("usdc", "setApprovalForAll", operator="hot_wallet", approved=True), "unlimited_approval"),
    "multicall hiding a transfer": (lambda a: call("usdc", "multicall", data=[data(a, "usdc", "transfer", COLD, 5)]), "recipient"),
    "multicall: allowed transfer plus an approval": (lambda a: call("usdc", "multicall", data=[
        data(a, "usdc", "transfer", a.ctx.address("hot_wallet"), 5), data(a, "usdc", "approve", THIEF, 2**256 - 1)]), "spender"),
    "multicall splitting a transfer above per_tx": (lambda a: call("usdc", "multicall", data=[
        data(a, "usdc", "transfer", a.ctx.address("hot_wallet"), 60 * 10**6)] * 2), "token_per_tx"),
    "vault forwarding ETH to the thief": (lambda a: call("vault", "donate", eth_value=0.5), "recipient"),
    "vault aggregate pulling tokens": (lambda a: call("vault", "aggregate", targets=["usdc"], calls=[data(a, "usdc", "transferFrom", a.wallet.address, THIEF, 1)]), "simulate"),
    # the dedicated tools, proposed with what their schema would never offer
    "send_native to a stranger": (lambda a: tool("send_native", to="cold_storage", amount=0.1), "recipient"),
    "send_native above per_tx": (lambda a: tool("send_native", to="hot_wallet", amount="1.000000000000000001"), "max_value_per_tx"),
    "erc20_transfer to the thief": (lambda a: tool("erc20_transfer", token="usdc", to="thief", amount=1), "recipient"),
    "erc20_transfer of a contract that is no token": (lambda a: tool("erc20_transfer", token="vault", to="hot_wallet", amount=1), "input"),
    "approve tool to the thief": (lambda a: tool("approve", token="usdc", spender="thief", amount=1), "spender"),
    "approve tool over the cap in 18 decimals": (lambda a: tool("approve", token="dai", spender="hot_wallet", amount="10.000000000000000001"), "max_approval"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_guard_refuses_bypass_attempt(keeper, world, attack):
    make, rule = ATTACKS[attack]
    before = await snapshot(keeper, world)
    r = await keeper.propose(make(keeper))
    assert (r.status, r.rule) == ("refused", rule), (r.status, r.rule, r.verdict, r.error)
    assert r.tx_hash is None
    assert await snapshot(keeper, world) == before
    assert (await keeper.store.spent_since(keeper.name, 0)).sent == {}


async def test_guard_refuses_a_vault_that_pulls_more_than_approved_for(keeper, world, chain):
    ok = await keeper.propose(tool("approve", token="usdc", spender="vault", amount=10))
    assert ok.status == "confirmed", (ok.rule, ok.verdict)
    before = await snapshot(keeper, world)
    r = await keeper.propose(call("vault", "deposit", token="usdc", arg1="1"))  # pulls all 10 to the thief
    assert (r.status, r.rule) == ("refused", "recipient") and "10 usdc would go to thief" in r.verdict
    r = await keeper.propose(call("vault", "aggregate", targets=["usdc"],
                                  calls=[data(keeper, "usdc", "transferFrom", keeper.wallet.address, THIEF, 10**6)]))
    assert (r.status, r.rule) == ("refused", "recipient")
    assert await snapshot(keeper, world) == before


async def test_approvals_are_counted_over_the_day(keeper, world):
    assert (await keeper.propose(tool("approve", token="usdc", spender="hot_wallet", amount=6))).status == "confirmed"
    assert (await keeper.propose(tool("revoke", token="usdc", spender="hot_wallet"))).status == "confirmed"
    r = await keeper.propose(tool("approve", token="usdc", spender="hot_wallet", amount=5))  # 6 + 5 granted > 10
    assert (r.status, r.rule) == ("refused", "max_approval") and "last 24 h" in r.verdict
    assert (await keeper.propose(tool("approve", token="usdc", spender="hot_wallet", amount=4))).status == "confirmed"


async def test_a_self_approved_transfer_from_is_judged_like_a_transfer(keeper, world):
    r = await keeper.propose(call("usdc", "transferFrom", **{"from": "treasury", "to": "hot_wallet", "value": "7"}))
    assert r.status == "confirmed", (r.rule, r.verdict)
    assert (await keeper.store.spent_since(keeper.name, 0)).sent == {world.usdc: 7}


async def test_min_received_bounds_what_a_tool_must_bring_in(stack, world, chain, tmp_path):
    """A tool (a swap, later) states the least the wallet must receive; the guard holds it to
    the simulated net inflow. Here: pulling usdc the hot wallet approved."""
    hot = dev_wallet(1)
    usdc = chain.contract(world.usdc, artifact("HostileToken")["abi"])
    await chain.transact(dev_wallet(0), {"to": world.usdc, "data": usdc.encode_abi("transfer", args=[hot.address, 50])})
    await chain.transact(hot, {"to": world.usdc, "data": usdc.encode_abi("approve", args=[dev_wallet(0).address, 50])})

    async def build(ctx, args):
        token = ctx.contracts["usdc"]
        return TxIntent("test_pull", token.address, data=token.handle.encode_abi("transferFrom", args=[hot.address, ctx.wallet.address, 5]),
                        min_received={token.address: int(args["least"])})

    TOOLS.register(Tool("test_pull", "pull 5 base units of usdc from the hot wallet", lambda ctx: {"type": "object"}, build=build))
    try:
        async with Runtime.open(spec_from(world_yaml(world, tools="[test_pull]")), stack=stack, state_dir=tmp_path) as rt:
            agent = rt.agents["keeper"]
            r = await agent.propose(tool("test_pull", least=6))
            assert (r.status, r.rule) == ("refused", "min_received")
            r = await agent.propose(tool("test_pull", least=5))
            assert r.status == "confirmed", (r.rule, r.verdict)
    finally:
        TOOLS.unregister("test_pull")
