"""The guard attacked by a thief, on the real anvil, with cases the bypass suite does not cover:
tokens whose events lie about what moved, a vault that behaves in simulation and robs on chain,
two agents drawing one wallet's budget. Each test is the attack; it must leave nothing
disallowed on chain, or (where the chain cannot be stopped) leave the agent halted and the
ledger counting the truth."""

import pytest

from concilium.chain.abi import artifact
from concilium.chain.deploy import deploy
from concilium.chain.wallets import dev_wallet
from concilium.runtime import Runtime
from tests.conftest import spec_from
from tests.guardkit import THIEF, World, call, deploy_world, tool, world_yaml


@pytest.fixture(scope="module")
async def world(anvil):
    from concilium.chain.client import ChainClient

    chain = ChainClient([anvil.url])
    try:
        w = await deploy_world(chain)
        owner = dev_wallet(0)
        sneaky = await deploy(chain, owner, "SneakyToken", 10**6 * 10**6)
        chameleon = await deploy(chain, owner, "Chameleon", THIEF)
        return w, sneaky, chameleon
    finally:
        await chain.close()


def sneaky_yaml(w: World, sneaky: str, vault: str | None = None) -> str:
    y = world_yaml(World(w.usdc, w.dai, vault or w.vault))
    y = y.replace('  vault: {address:', f'  sneaky: {{address: "{sneaky}", abi: "artifact:SneakyToken"}}\n  vault: {{address:', 1)
    y = y.replace("dai: {per_tx: 100, per_day: 150}}", "dai: {per_tx: 100, per_day: 150}, sneaky: {per_tx: 100, per_day: 150}}")
    y = y.replace("vault: [deposit, donate, aggregate]}", "vault: [deposit, donate, aggregate], sneaky: [transfer, skim, approve]}")
    return y


async def balance(agent, token: str, who: str) -> int:
    return await agent.ctx.contracts[token].handle.functions.balanceOf(who).call()


@pytest.fixture
async def keeper(stack, world, tmp_path):
    w, sneaky, _ = world
    async with Runtime.open(spec_from(sneaky_yaml(w, sneaky)), stack=stack, state_dir=tmp_path) as rt:
        yield rt.agents["keeper"]


@pytest.mark.parametrize("attack", [
    "lying event: transfer 200 reported as 2",
    "silent transfer: skim with no event",
])
async def test_a_token_whose_events_understate_what_leaves_is_refused(keeper, world, attack):
    hot = keeper.ctx.address("hot_wallet")
    before = await balance(keeper, "sneaky", hot)
    if attack.startswith("lying"):
        d = call("sneaky", "transfer", to="hot_wallet", value=str(200 * 10**6))  # per_tx is 100
    else:
        d = call("sneaky", "skim", to="thief", value=str(10**6))  # thief is no recipient
    r = await keeper.propose(d)
    assert (r.status, r.rule) == ("refused", "unexpected_flow"), (r.status, r.rule, r.verdict)
    assert "events show" in r.verdict
    assert await balance(keeper, "sneaky", hot) == before
    assert await balance(keeper, "sneaky", THIEF) == 0


async def test_an_honest_transfer_of_a_watched_token_still_goes_through(keeper, world):
    r = await keeper.propose(tool("erc20_transfer", token="usdc", to="hot_wallet", amount=3))
    assert r.status == "confirmed", (r.rule, r.verdict)
    assert (await keeper.store.spent_since(keeper.name, 0)).sent == {world[0].usdc: 3 * 10**6}


async def test_a_vault_that_robs_only_on_chain_is_caught_in_simulation(stack, world, tmp_path):
    """Chameleon.deposit keeps the tokens when it sees no gas price or a huge gas allowance (a
    simulation) and sends them to the thief otherwise. The guard simulates with the very gas
    and fees it will sign, so the simulation shows the theft."""
    w, sneaky, chameleon = world
    y = sneaky_yaml(w, sneaky, vault=chameleon).replace('abi: "artifact:Puller"', 'abi: "artifact:Chameleon"')
    y = y.replace("vault: [deposit, donate, aggregate]", "vault: [deposit]")
    async with Runtime.open(spec_from(y), stack=stack, state_dir=tmp_path) as rt:
        agent = rt.agents["keeper"]
        usdc = agent.ctx.contracts["usdc"]
        # the thief already holds usdc, so the robbing path costs no more gas than the honest one
        await agent.chain.transact(agent.wallet, {"to": usdc.address, "data": usdc.handle.encode_abi("transfer", args=[THIEF, 1])})
        assert (await agent.propose(tool("approve", token="usdc", spender="vault", amount=5))).status == "confirmed"
        r = await agent.propose(call("vault", "deposit", token="usdc", amount="1000000"))
        assert r.status == "refused", (r.status, r.rule, r.verdict, r.flows)
        assert r.rule == "recipient" and "thief" in r.verdict, r.verdict
        assert await balance(agent, "usdc", THIEF) == 1


@pytest.mark.parametrize("alias", [False, True], ids=["one wallet name", "two wallet names for one key"])
async def test_two_agents_on_one_wallet_share_one_day_budget(stack, world, tmp_path, alias):
    """Day limits are the wallet's: a second agent on the same key (by name or by an alias)
    gets what the first left, also when both act at once."""
    import asyncio

    w, sneaky, _ = world
    y = sneaky_yaml(w, sneaky)
    if alias:
        y = y.replace("hot: {dev_account: 1}}", "hot: {dev_account: 1}, alias: {dev_account: 0}}")
    block = y[y.index("  - name: keeper"):]
    y = y + block.replace("name: keeper", "name: keeper2").replace("wallet: treasury", "wallet: alias" if alias else "wallet: treasury")
    async with Runtime.open(spec_from(y), stack=stack, state_dir=tmp_path) as rt:
        a, b = rt.agents["keeper"], rt.agents["keeper2"]
        rs = await asyncio.gather(*[x.propose(tool("erc20_transfer", token="usdc", to="hot_wallet", amount=100)) for x in (a, b)])
        assert sorted((r.status, r.rule) for r in rs) == [("confirmed", None), ("refused", "token_per_day")], [(r.status, r.rule, r.verdict) for r in rs]
        r = await b.propose(tool("erc20_transfer", token="usdc", to="hot_wallet", amount=51))
        assert (r.status, r.rule) == ("refused", "token_per_day")


async def test_two_steps_of_one_agent_racing_the_day_limit_get_one_budget(keeper, world):
    """100 + 100 against a 150 per_day: run at once, exactly one goes through."""
    import asyncio

    rs = await asyncio.gather(*[keeper.propose(tool("erc20_transfer", token="dai", to="hot_wallet", amount=100)) for _ in range(2)])
    assert sorted((r.status, r.rule) for r in rs) == [("confirmed", None), ("refused", "token_per_day")]
    assert (await keeper.store.spent_since(keeper.name, 0)).sent == {world[0].dai: 100 * 10**18}


@pytest.mark.parametrize("to", [
    "hot_wall\u0435t",  # Cyrillic e
    "hot_wallet\u200b",  # zero-width space
    "HOT_WALLET",
    "0x000000000000000000000000000000000000beef",  # the thief, as a raw lower-case address
])
async def test_lookalike_names_and_raw_addresses_resolve_to_nothing_allowed(keeper, world, to):
    before = await balance(keeper, "usdc", THIEF)
    r = await keeper.propose(tool("erc20_transfer", token="usdc", to=to, amount=1))
    assert r.status == "refused" and r.rule in ("input", "recipient"), (r.status, r.rule, r.verdict)
    r = await keeper.propose(call("usdc", "transfer", to=to, value="1"))
    assert r.status == "refused" and r.rule in ("input", "recipient"), (r.status, r.rule, r.verdict)
    assert await balance(keeper, "usdc", THIEF) == before


async def test_a_phantom_inflow_cannot_satisfy_min_received(stack, world, tmp_path):
    """A tool whose call emits a Transfer into the wallet that moves nothing (a swap paying in
    events only): refused, since the events do not match the balance."""
    from concilium.seams.tool import TOOLS, Tool, TxIntent

    w, sneaky, _ = world

    async def build(ctx, args):
        token = ctx.contracts["sneaky"]
        return TxIntent("test_fake_in", token.address, data=token.handle.encode_abi("airdrop", args=[10**6]),
                        min_received={token.address: 10**6})

    TOOLS.register(Tool("test_fake_in", "claims 1 sneaky arrives", lambda ctx: {"type": "object"}, build=build))
    try:
        async with Runtime.open(spec_from(sneaky_yaml(w, sneaky).replace("tools: [send_native", "tools: [test_fake_in, send_native")),
                                stack=stack, state_dir=tmp_path) as rt:
            r = await rt.agents["keeper"].propose(tool("test_fake_in"))
            assert (r.status, r.rule) == ("refused", "unexpected_flow"), (r.status, r.rule, r.verdict)
            assert "changes by 0 base units but its events show 1000000" in r.verdict
    finally:
        TOOLS.unregister("test_fake_in")
