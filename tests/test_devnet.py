"""The DeFi devnet on the real anvil: the published protocol builds deploy and work through the
protocol adapters (wrap, v2 and v3 swaps with quotes, a Morpho supply/borrow/repay/withdraw)."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from eth_utils import keccak

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.wallets import dev_wallet
from concilium.protocols import morpho, uniswap_v2, uniswap_v3, weth
from concilium.protocols.call import Call, contract, encode
from concilium.stack.devnet import Devnet
from tests.conftest import DEVNET_FUNDED, set_balance

pytestmark = pytest.mark.stack
USER = dev_wallet(DEVNET_FUNDED[0])  # the DeFi tool tests use the others
USDC = 10**6


async def send(chain: ChainClient, call: Call, what: str = "call"):
    return await chain.transact(USER, call.tx(), what)


async def balance(chain: ChainClient, token: str, who: str = USER.address) -> int:
    return int(await contract(chain.w3, "erc20", token).functions.balanceOf(who).call())


async def deadline(chain: ChainClient) -> int:
    return int((await chain.w3.eth.get_block("latest"))["timestamp"]) + 600


def test_uniswap_builds_are_the_published_ones():
    """The routers compute pair/pool addresses from these init-code hashes: only the published
    bytecode matches them (a recompiled pair or pool would route to addresses with no code)."""
    assert keccak(hexstr=artifact("UniswapV2Pair")["bytecode"]).hex() == "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
    assert keccak(hexstr=artifact("UniswapV3Pool")["bytecode"]).hex() == "e34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"


async def test_devnet_is_seeded(devnet: Devnet, chain, tmp_path):
    for name in ("weth", "usdc", "dai", "uniswap_v2_router", "uniswap_v3_router", "uniswap_v3_quoter", "morpho"):
        assert len(await chain.w3.eth.get_code(getattr(devnet, name))) > 100, name
    pool = await uniswap_v3.pool_state(chain.w3, devnet.uniswap_v3_factory, devnet.weth, devnet.usdc, devnet.uniswap_v3_fee)
    assert pool is not None and pool.liquidity > 0
    assert 2000 < uniswap_v3.price_from_sqrt(pool.sqrt_price_x96, devnet.weth, devnet.usdc, 18, 6) < 4000
    r = await uniswap_v2.reserves(chain.w3, devnet.uniswap_v2_factory, devnet.weth, devnet.usdc)
    assert 2000 < r.price(18, 6) < 4000
    m = await morpho.market_params(chain.w3, devnet.morpho, devnet.morpho_market_id)
    assert m == morpho.MarketParams(*devnet.market.as_tuple())
    assert await balance(chain, devnet.usdc) >= 10_000 * USDC
    js, env = devnet.write(tmp_path, rpc="http://127.0.0.1:8545")
    assert Devnet.read(js) == devnet
    assert f"export WETH={devnet.weth}\n" in env.read_text() and "export DEVNET_RPC=http://127.0.0.1:8545\n" in env.read_text()


async def test_wrap_and_unwrap(devnet, chain):
    before = await balance(chain, devnet.weth)
    await send(chain, weth.wrap(devnet.weth, 3 * 10**18), "wrap")
    assert await balance(chain, devnet.weth) == before + 3 * 10**18
    await send(chain, weth.unwrap(devnet.weth, 10**18), "unwrap")
    assert await balance(chain, devnet.weth) == before + 2 * 10**18


async def test_uniswap_v2_swap_gets_its_quote_and_refuses_less(devnet, chain):
    await send(chain, encode("erc20", devnet.usdc, "approve", devnet.uniswap_v2_router, 1000 * USDC), "approve")
    path = [devnet.usdc, devnet.weth]
    quoted = await uniswap_v2.quote(chain.w3, devnet.uniswap_v2_router, 1000 * USDC, path)
    assert 0.2 * 10**18 < quoted < 0.34 * 10**18  # about 1/3000 ETH a dollar, less fee and impact
    too_greedy = uniswap_v2.swap_exact_in(devnet.uniswap_v2_router, 1000 * USDC, quoted + 1, path, USER.address, await deadline(chain))
    assert not (await chain.simulate({"from": USER.address, **too_greedy.tx()})).ok
    expired = uniswap_v2.swap_exact_in(devnet.uniswap_v2_router, 1000 * USDC, quoted, path, USER.address, int(time.time()) - 3600 * 24 * 365)
    assert not (await chain.simulate({"from": USER.address, **expired.tx()})).ok
    weth_before, usdc_before = await balance(chain, devnet.weth), await balance(chain, devnet.usdc)
    await send(chain, uniswap_v2.swap_exact_in(devnet.uniswap_v2_router, 1000 * USDC, quoted, path, USER.address, await deadline(chain)), "swap")
    assert await balance(chain, devnet.weth) == weth_before + quoted
    assert await balance(chain, devnet.usdc) == usdc_before - 1000 * USDC


async def test_uniswap_v3_swap_with_a_quote_moves_the_price(devnet, chain):
    fee = devnet.uniswap_v3_fee
    await send(chain, weth.wrap(devnet.weth, 10**18), "wrap")
    await send(chain, encode("erc20", devnet.weth, "approve", devnet.uniswap_v3_router, 10**18), "approve")
    before = await uniswap_v3.pool_state(chain.w3, devnet.uniswap_v3_factory, devnet.weth, devnet.usdc, fee)
    q = await uniswap_v3.quote(chain.w3, devnet.uniswap_v3_quoter, devnet.weth, devnet.usdc, fee, 10**18)
    mid = uniswap_v3.price_from_sqrt(before.sqrt_price_x96, devnet.weth, devnet.usdc, 18, 6)
    assert Fraction(q.amount_out, USDC) < mid  # the fee and the price impact, never better than mid
    assert Fraction(q.amount_out, USDC) > mid * Fraction(95, 100)
    usdc_before = await balance(chain, devnet.usdc)
    swap = uniswap_v3.swap_exact_in(devnet.uniswap_v3_router, devnet.weth, devnet.usdc, fee, 10**18, q.amount_out,
                                    USER.address, await deadline(chain))
    await send(chain, swap, "swap")
    assert await balance(chain, devnet.usdc) == usdc_before + q.amount_out
    after = await uniswap_v3.pool_state(chain.w3, devnet.uniswap_v3_factory, devnet.weth, devnet.usdc, fee)
    assert after.sqrt_price_x96 == q.sqrt_price_after
    assert uniswap_v3.price_from_sqrt(after.sqrt_price_x96, devnet.weth, devnet.usdc, 18, 6) < mid  # sold WETH: cheaper


async def test_morpho_supply_borrow_repay_withdraw(devnet, chain):
    m, mb, me = devnet.market, devnet.morpho, USER.address
    await send(chain, encode("erc20", devnet.usdc, "approve", mb, 2**256 - 1), "approve usdc")
    await send(chain, encode("erc20", devnet.weth, "approve", mb, 2**256 - 1), "approve weth")
    await send(chain, weth.wrap(devnet.weth, 2 * 10**18), "wrap")

    await send(chain, morpho.supply(mb, m, 5000 * USDC, me), "supply")
    pos = await morpho.position(chain.w3, mb, m, me)
    assert 4999 * USDC <= pos.supplied <= 5000 * USDC and pos.debt == 0 and pos.health is None

    await send(chain, morpho.supply_collateral(mb, m, 10**18, me), "collateral")
    pos = await morpho.position(chain.w3, mb, m, me)
    assert pos.collateral == 10**18 and pos.max_debt == 3000 * USDC * 86 // 100
    over = morpho.borrow(mb, m, pos.max_debt + USDC, me, me)
    assert not (await chain.simulate({"from": me, **over.tx()})).ok  # Morpho refuses an unhealthy borrow
    usdc_before = await balance(chain, devnet.usdc)
    await send(chain, morpho.borrow(mb, m, 1000 * USDC, me, me), "borrow")
    assert await balance(chain, devnet.usdc) == usdc_before + 1000 * USDC
    pos = await morpho.position(chain.w3, mb, m, me)
    assert pos.debt >= 1000 * USDC and Fraction(2, 1) < pos.health < Fraction(26, 10)

    await send(chain, morpho.repay(mb, m, 400 * USDC, me), "repay part")
    assert (await morpho.position(chain.w3, mb, m, me)).debt < 601 * USDC
    await send(chain, morpho.repay_shares(mb, m, (await morpho.position(chain.w3, mb, m, me)).borrow_shares, me), "repay all")
    await send(chain, morpho.withdraw_collateral(mb, m, 10**18, me, me), "withdraw collateral")
    pos = await morpho.position(chain.w3, mb, m, me)
    assert pos.debt == 0 and pos.collateral == 0
    await send(chain, morpho.withdraw(mb, m, 4000 * USDC, me, me), "withdraw")
    assert (await morpho.position(chain.w3, mb, m, me)).supplied < 1001 * USDC


async def test_cli_deploys_onto_a_given_rpc_and_refuses_without_a_deployer(anvil, chain, tmp_path):
    from tests.test_cli import concilium

    r = concilium("devnet", "--rpc", anvil.url)
    assert r.returncode == 1 and "--rpc needs a deployer" in r.stderr and "Traceback" not in r.stderr
    await set_balance(chain, dev_wallet(5).address, 10**22)  # earlier tests on the session chain may have spent it
    r = concilium("devnet", "--rpc", anvil.url, "--dev-account", "5", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    net = Devnet.read(tmp_path / "devnet.json")
    assert net.deployer == dev_wallet(5).address and f"WETH                   {net.weth}" in r.stdout
    assert len(await chain.w3.eth.get_code(net.morpho)) > 1000
