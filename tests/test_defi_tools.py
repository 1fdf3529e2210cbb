"""The DeFi tools on the real devnet (WETH9, Uniswap v2/v3, Morpho Blue from npm), proposed
through `Agent.propose` like any decision: each executes and is recorded, and each policy rule
refuses with its name. The guard reads what the simulation shows, not what a tool says."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal

import pytest

from concilium.llm.decisions import Decision
from concilium.protocols import morpho, uniswap_v3
from concilium.protocols.call import contract
from concilium.runtime import Runtime
from concilium.stack.devnet import Devnet
from concilium.seams.tool import TOOLS
from tests.conftest import spec_from

pytestmark = pytest.mark.stack
USDC = 10**6


def defi_yaml(d: Devnet, account: int = 8, venue: str = "v3", policy: str = "", borrow: str = "{min_health: 1.5}") -> str:
    swap = "{router: v3_router, quoter: v3_quoter, fee: 3000}" if venue == "v3" else "{router: v2_router}"
    pool = "v3_pool" if venue == "v3" else "v2_pair"
    router = "v3_router" if venue == "v3" else "v2_router"
    policy = policy or f"""
      recipients: [weth, {pool}, morpho]
      spenders: {{{router}: {{usdc: 10000, weth: 5}}, morpho: {{usdc: 10000, weth: 5}}}}
      limits: {{ETH: {{per_tx: 5, per_day: 20}}, weth: {{per_tx: 3, per_day: 10}}, usdc: {{per_tx: 5000, per_day: 20000}}}}
      max_slippage_bps: 50
    """
    return textwrap.dedent(f"""
    version: 1
    models:
      local: {{serve: bundled}}
    chains:
      dev: {{rpc: embedded}}
    wallets:
      trader: {{dev_account: {account}}}
    addresses:
      me: {{wallet: trader}}
    contracts:
      weth: {{address: "{d.weth}", abi: weth9}}
      usdc: {{address: "{d.usdc}", abi: erc20}}
      dai: {{address: "{d.dai}", abi: erc20}}
      v2_router: {{address: "{d.uniswap_v2_router}", abi: uniswap_v2_router}}
      v2_pair: {{address: "{d.uniswap_v2_weth_usdc}", abi: uniswap_v2_pair}}
      v3_router: {{address: "{d.uniswap_v3_router}", abi: uniswap_v3_router}}
      v3_quoter: {{address: "{d.uniswap_v3_quoter}", abi: uniswap_v3_quoter}}
      v3_pool: {{address: "{d.uniswap_v3_weth_usdc}", abi: uniswap_v3_pool}}
      morpho: {{address: "{d.morpho}", abi: morpho_blue}}
    agents:
      - name: trader
        model: local
        chain: dev
        wallet: trader
        instructions: Keep about half of the portfolio's value in WETH and half in USDC.
        observe:
          - erc20_balance: {{token: weth, holder: me}}
          - erc20_balance: {{token: usdc, holder: me}}
        tools:
          - wrap
          - unwrap
          - approve
          - swap: {swap}
          - quote
          - pool_price
          - supply: {{market: "{d.morpho_market_id}", loan: usdc, collateral: weth}}
          - withdraw
          - borrow: {borrow}
          - repay
          - position
        policy: {textwrap.indent(textwrap.dedent(policy), "          ")}
    """)


@pytest.fixture
async def trader(devnet, stack, tmp_path):
    async with Runtime.open(spec_from(defi_yaml(devnet)), stack=stack, state_dir=tmp_path) as rt:
        yield rt.agents["trader"]


def act(action: str, **args) -> Decision:
    return Decision(action=action, args=args, reason="test")


async def balance(agent, token: str) -> int:
    return int(await agent.ctx.contracts[token].handle.functions.balanceOf(agent.wallet.address).call())


async def ready_to_swap(agent, router: str = "v3_router", weth: float = 4):
    assert (await agent.propose(act("wrap", amount=min(weth, 5)))).status == "confirmed"
    for token, cap in (("weth", 5), ("usdc", 10000)):
        r = await agent.propose(act("approve", token=token, spender=router, amount=cap))
        assert r.status == "confirmed", (r.rule, r.verdict)


async def test_wrap_and_unwrap_execute_and_are_recorded(trader, chain):
    before_weth, before_eth = await balance(trader, "weth"), await chain.w3.eth.get_balance(trader.wallet.address)
    r = await trader.propose(act("wrap", amount=1.25))
    assert r.status == "confirmed" and r.tx_hash and "wrap 1.25 ETH" in r.summary
    assert await balance(trader, "weth") == before_weth + 125 * 10**16
    r = await trader.propose(act("unwrap", amount="0.25"))
    assert r.status == "confirmed", (r.rule, r.verdict)
    assert await balance(trader, "weth") == before_weth + 10**18
    spent = before_eth - await chain.w3.eth.get_balance(trader.wallet.address)
    assert 10**18 < spent < 10**18 + 10**16  # 1 ETH wrapped net, plus gas


async def test_v3_swap_quotes_first_and_gets_at_least_the_bound(trader, devnet, chain):
    await ready_to_swap(trader)
    quote = await TOOLS["quote"].read(trader.ctx, {"sell": "weth", "buy": "usdc", "amount": 1})
    assert quote["venue"].startswith("Uniswap v3") and 30 <= quote["cost_bps"] < 50  # the 0.3 % fee and a little impact
    price = await TOOLS["pool_price"].read(trader.ctx, {"base": "weth", "quote": "usdc"})
    assert 2500 < Decimal(price["price"]) < 3500
    usdc_before = await balance(trader, "usdc")
    r = await trader.propose(act("swap", sell="weth", buy="usdc", amount=1))
    assert r.status == "confirmed", (r.rule, r.verdict)
    got = await balance(trader, "usdc") - usdc_before
    assert got == int(Decimal(quote["expected_out"]) * USDC)
    assert got >= int(Decimal(price["price"]) * USDC) * (10_000 - 50) // 10_000  # the policy's bound held
    assert "for at least" in r.summary and "Uniswap v3" in r.summary


async def test_v2_swap_executes(devnet, stack, tmp_path):
    async with Runtime.open(spec_from(defi_yaml(devnet, account=7, venue="v2")), stack=stack, state_dir=tmp_path) as rt:
        a = rt.agents["trader"]
        await ready_to_swap(a, router="v2_router")
        before = await balance(a, "weth")
        r = await a.propose(act("swap", sell="usdc", buy="weth", amount=1500))
        assert r.status == "confirmed", (r.rule, r.verdict)
        assert "Uniswap v2" in r.summary
        assert 0.49 * 10**18 < await balance(a, "weth") - before < 0.5 * 10**18


async def test_guard_refuses_a_swap_that_loses_more_than_max_slippage(trader, chain):
    """3 WETH into a 1000-WETH pool: 0.3 % fee + 0.3 % price impact > 50 bps. The router's own
    minimum is the quote, so the simulation succeeds and the guard's bound is what refuses."""
    await ready_to_swap(trader)
    before = await balance(trader, "weth")
    r = await trader.propose(act("swap", sell="weth", buy="usdc", amount=3))
    assert (r.status, r.rule) == ("refused", "min_received"), r.verdict
    assert await balance(trader, "weth") == before


async def test_guard_refuses_a_swap_above_the_sell_limit(trader):
    await ready_to_swap(trader)
    r = await trader.propose(act("swap", sell="weth", buy="usdc", amount="3.000000000000000001"))
    assert (r.status, r.rule) == ("refused", "token_per_tx"), r.verdict


async def test_guard_refuses_an_approval_beyond_the_cap_or_to_an_unnamed_spender(trader):
    r = await trader.propose(act("approve", token="usdc", spender="v3_router", amount="10000.000001"))
    assert (r.status, r.rule) == ("refused", "max_approval"), r.verdict
    r = await trader.propose(act("approve", token="usdc", spender="v2_router", amount=1))
    assert (r.status, r.rule) == ("refused", "spender"), r.verdict


async def test_guard_refuses_a_swap_through_a_pool_the_policy_does_not_name(devnet, stack, tmp_path):
    policy = """
      recipients: [weth, morpho]
      spenders: {v3_router: {usdc: 10000, weth: 5}}
      limits: {ETH: {per_tx: 5}, weth: {per_tx: 3}, usdc: {per_tx: 5000}}
      max_slippage_bps: 50
    """
    async with Runtime.open(spec_from(defi_yaml(devnet, policy=policy)), stack=stack, state_dir=tmp_path) as rt:
        a = rt.agents["trader"]
        await ready_to_swap(a)
        r = await a.propose(act("swap", sell="weth", buy="usdc", amount="0.5"))
        assert (r.status, r.rule) == ("refused", "recipient"), r.verdict


async def test_guard_refuses_selling_a_token_the_policy_does_not_name(devnet, stack, tmp_path):
    """DAI has no limit: whatever tool moves it, the flow is unexpected."""
    async with Runtime.open(spec_from(defi_yaml(devnet, account=7, venue="v2")), stack=stack, state_dir=tmp_path) as rt:
        a = rt.agents["trader"]
        dai = a.ctx.contracts["dai"]
        await a.chain.transact(a.wallet, {"to": dai.address, "data": dai.handle.encode_abi("approve", args=[a.ctx.address("v2_router"), 10**21])})
        before = await balance(a, "dai")
        r = await a.propose(act("swap", sell="dai", buy="usdc", amount=100))
        assert (r.status, r.rule) == ("refused", "unexpected_flow"), r.verdict
        assert await balance(a, "dai") == before


@pytest.mark.parametrize("amount", [0, -1, "0.0000001", "nan", "1e400"])
async def test_swap_amounts_that_are_not_a_positive_number_of_base_units_are_refused(trader, amount):
    r = await trader.propose(act("swap", sell="usdc", buy="weth", amount=amount))
    assert (r.status, r.rule) == ("refused", "amount"), r.verdict


async def test_morpho_supply_borrow_repay_withdraw_through_the_guard(trader, devnet):
    for token in ("usdc", "weth"):
        assert (await trader.propose(act("approve", token=token, spender="morpho", amount=5))).status == "confirmed"
    assert (await trader.propose(act("approve", token="usdc", spender="morpho", amount=10000))).status == "confirmed"
    assert (await trader.propose(act("wrap", amount=2))).status == "confirmed"
    steps = [act("supply", asset="usdc", amount=2000), act("supply", asset="weth", amount=1),
             act("borrow", amount=1000)]
    for d in steps:
        r = await trader.propose(d)
        assert r.status == "confirmed", (d.action, r.rule, r.verdict)
    pos = await TOOLS["position"].read(trader.ctx, {})
    assert pos["collateral"] == "1 weth" and pos["borrowable_up_to"] == "2580 usdc"
    assert pos["debt"].startswith("1000") and 2.5 < float(pos["health"]) < 2.6
    r = await trader.propose(act("borrow", amount=800))  # health 2580/1800 = 1.43 < 1.5
    assert (r.status, r.rule) == ("refused", "health"), r.verdict
    r = await trader.propose(act("withdraw", asset="weth", amount="0.6"))  # 1032/1000 = 1.03 < 1.25 (the default)
    assert (r.status, r.rule) == ("refused", "health"), r.verdict
    for d in (act("repay", amount=1001), act("withdraw", asset="weth", amount=1), act("withdraw", asset="usdc", amount=1999)):
        r = await trader.propose(d)
        assert r.status == "confirmed", (d.action, r.rule, r.verdict)
    m = morpho.MarketParams(*devnet.market.as_tuple())
    p = await morpho.position(trader.chain.w3, devnet.morpho, m, trader.wallet.address)
    assert p.debt == 0 and p.collateral == 0 and p.supplied <= 2 * USDC


async def test_yaml_problems_of_defi_tools_are_reported_with_their_paths(devnet):
    from concilium.errors import SpecError

    text = defi_yaml(devnet).replace("- swap: {router: v3_router, quoter: v3_quoter, fee: 3000}", "- swap: {router: nowhere}")
    text = text.replace("      max_slippage_bps: 50\n", "")
    with pytest.raises(SpecError) as e:
        spec_from(text)
    assert "unknown contract 'nowhere'" in str(e.value) and "max_slippage_bps" in str(e.value)


async def test_model_driven_swap_of_the_portfolio_example(devnet, stack, vllm, chain, tmp_path, monkeypatch):
    """examples/portfolio.yaml on the real model: every step is a valid decision under the swap
    schema (sell one named token for another, within that token's limit) that the guard judges;
    sampled seeds are tried until one swap goes through. Structure and flow, not wisdom."""
    from concilium.protocols.call import encode
    from concilium.protocols.weth import wrap
    from concilium.spec import load_spec
    from tests.conftest import ROOT

    for k, v in devnet.env().items():
        monkeypatch.setenv(k, v)
    spec = load_spec(ROOT / "examples" / "portfolio.yaml")
    me = None
    statuses = []
    for seed in range(6):
        sampled = spec.model_copy(update={"models": {k: m.model_copy(update={"temperature": 0.8, "seed": seed}) for k, m in spec.models.items()}})
        async with Runtime.open(sampled, stack=stack, state_dir=tmp_path / str(seed)) as rt:
            a = rt.agents["portfolio"]
            if me is None:
                me = a.wallet
                for call in (wrap(devnet.weth, 4 * 10**18), encode("erc20", devnet.weth, "approve", devnet.uniswap_v3_router, 6 * 10**18),
                             encode("erc20", devnet.usdc, "approve", devnet.uniswap_v3_router, 20_000 * USDC)):
                    await chain.transact(me, call.tx(), "setup")
            before = {t: await balance(a, t) for t in ("weth", "usdc")}
            r = await a.step()
            obs = json.loads(r.observation)
            assert 2000 < float(obs["price of weth in usdc (Uniswap v3 (0.3 % pool))"]) < 4000
            assert r.action in ("noop", "swap") and r.status in ("noop", "confirmed", "refused"), (r.status, r.error)
            statuses.append((r.status, r.rule))
            if r.status == "refused":
                assert r.rule and r.verdict and await balance(a, "weth") == before["weth"]
                continue
            if r.status != "confirmed":
                continue
            args = json.loads(r.args)
            assert args["sell"] != args["buy"] and {args["sell"], args["buy"]} == {"weth", "usdc"}
            sold = before[args["sell"]] - await balance(a, args["sell"])
            assert sold == int(Decimal(str(args["amount"])).scaleb(await a.ctx.decimals(args["sell"])))
            assert await balance(a, args["buy"]) > before[args["buy"]]
            assert (await chain.w3.eth.get_transaction_receipt(r.tx_hash))["status"] == 1
            return
    pytest.fail(f"in six sampled steps the model never swapped: {statuses}")


async def test_swap_exactly_at_the_6_decimal_limit_passes_and_one_unit_above_is_refused(trader):
    await ready_to_swap(trader)
    r = await trader.propose(act("swap", sell="usdc", buy="weth", amount="5000.000001"))
    assert (r.status, r.rule) == ("refused", "token_per_tx"), r.verdict
    before = await balance(trader, "usdc")
    r = await trader.propose(act("swap", sell="usdc", buy="weth", amount=5000))  # 0.3 % fee + 0.17 % impact < 50 bps
    assert r.status == "confirmed", (r.rule, r.verdict)
    assert before - await balance(trader, "usdc") == 5000 * USDC
    # one base unit: the pool's fee rounds it to nothing, so the swap would get 0 WETH: refused
    r = await trader.propose(act("swap", sell="usdc", buy="weth", amount="0.000001"))
    assert (r.status, r.rule) == ("refused", "min_received") and "would receive 0" in r.verdict, r.verdict


def test_swap_schema_offers_no_self_swap_and_each_token_its_own_bound():
    from concilium.tools.builtin._swap import trade_schema

    s = trade_schema(["usdc", "weth"], ["dai", "usdc", "weth"], lambda t: {"type": "number", "maximum": {"usdc": 5000, "weth": 2}[t]})
    branches = {b["properties"]["sell"]["enum"][0]: b["properties"] for b in s["anyOf"]}
    assert branches["usdc"]["buy"]["enum"] == ["dai", "weth"] and branches["weth"]["buy"]["enum"] == ["dai", "usdc"]
    assert branches["usdc"]["amount"]["maximum"] == 5000 and branches["weth"]["amount"]["maximum"] == 2
    assert "anyOf" not in trade_schema(["usdc"], ["usdc", "weth"], lambda t: {"type": "number"})
