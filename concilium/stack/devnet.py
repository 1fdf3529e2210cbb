"""The local DeFi devnet: the audited protocol builds from npm, deployed onto one chain.

WETH9; Uniswap v2 (factory, Router02) with WETH/USDC and DAI/USDC pairs; Uniswap v3 (factory,
SwapRouter, QuoterV2, NonfungiblePositionManager) with a WETH/USDC 0.3 % pool over the full
range; two ERC-20s (USDC, 6 decimals; DAI, 18); a Morpho Blue market lending USDC against WETH
(86 % LLTV) with the package's own OracleMock (fixed price, settable by anyone: a devnet only)
and IrmMock. Prices start at `eth_usd`.

The whole deployment is one batch from one account (about 30 transactions): every address is
known in advance from the nonces, each transaction is estimated and sent without waiting for
the one before it to be confirmed, and the receipts are checked at the end. (anvil 1.7's
`eth_simulateV1` cannot simulate contract creations, so the batch is not simulated in one call.)
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.utils import get_create_address

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.wallets import Wallet
from concilium.errors import ChainError
from concilium.protocols import morpho, uniswap_v2, uniswap_v3, weth
from concilium.protocols.call import Call, encode
from concilium.stack.process import Progress

USDC_DECIMALS, DAI_DECIMALS = 6, 18
LLTV = 86 * 10**16
V3_FEE = 3000
MAX_UINT = 2**256 - 1
FAR_DEADLINE = 2**32  # only the devnet's own seeding uses it


@dataclass(frozen=True)
class Devnet:
    chain_id: int
    deployer: str
    weth: str
    usdc: str
    dai: str
    uniswap_v2_factory: str
    uniswap_v2_router: str
    uniswap_v3_factory: str
    uniswap_v3_router: str
    uniswap_v3_quoter: str
    uniswap_v3_positions: str
    uniswap_v3_fee: int
    uniswap_v2_weth_usdc: str  # the pair: where a v2 swap's tokens go (a policy names it as a recipient)
    uniswap_v3_weth_usdc: str  # the pool, likewise
    morpho: str
    morpho_oracle: str
    morpho_irm: str
    morpho_market_id: str
    eth_usd: int

    @property
    def market(self) -> morpho.MarketParams:
        return morpho.MarketParams(self.usdc, self.weth, self.morpho_oracle, self.morpho_irm, LLTV)

    def env(self) -> dict[str, str]:
        """WETH=0x..., UNISWAP_V3_ROUTER=0x..., MORPHO_MARKET_ID=0x...: for `${...}` in YAML."""
        return {f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}

    def write(self, directory: Path, rpc: str | None = None) -> tuple[Path, Path]:
        """devnet.json and devnet.env (`export NAME=value` lines, and DEVNET_RPC if given) in
        `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        js, env = directory / "devnet.json", directory / "devnet.env"
        js.write_text(json.dumps(asdict(self), indent=1) + "\n")
        lines = {**self.env(), **({"DEVNET_RPC": rpc} if rpc else {})}
        env.write_text("".join(f"export {k}={v}\n" for k, v in lines.items()))
        return js, env

    @classmethod
    def read(cls, path: Path) -> "Devnet":
        return cls(**json.loads(Path(path).read_text()))


def _create(name: str, *args: Any, libraries: dict[str, str] | None = None) -> Call:
    art = artifact(name)
    bytecode = art["bytecode"]
    for refs in art.get("linkReferences", {}).values():
        for lib, spots in refs.items():
            for spot in spots:
                start = 2 + 2 * spot["start"]
                bytecode = bytecode[:start] + libraries[lib][2:].lower() + bytecode[start + 2 * spot["length"]:]
    data = Web3().eth.contract(abi=art["abi"], bytecode=bytecode).constructor(*args).data_in_transaction
    return Call("", data)


class _Batch:
    """Calls from one account, each given the address it will create (from its nonce)."""

    def __init__(self, sender: str, nonce: int):
        self.sender, self.nonce0 = sender, nonce
        self.steps: list[tuple[str, Call]] = []

    def add(self, what: str, call: Call) -> str | None:
        self.steps.append((what, call))
        return get_create_address(self.sender, self.nonce0 + len(self.steps) - 1) if not call.to else None

    def txs(self) -> list[dict[str, Any]]:
        return [{"from": self.sender, "data": c.data, "value": c.value, **({"to": c.to} if c.to else {})} for _, c in self.steps]


async def _send(chain: ChainClient, wallet: Wallet, batch: _Batch, progress: Progress) -> None:
    """Estimate, sign and send each call without waiting for its receipt. A call whose estimate
    fails waits for the ones before it (a chain that does not mine on arrival), then tries once
    more; the receipts are checked together at the end."""
    fees = (await chain.fees()).as_tx()
    hashes: list[str] = []
    for n, ((what, _), tx) in enumerate(zip(batch.steps, batch.txs()), 1):
        if n == 1 or n % 10 == 0 or n == len(batch.steps):
            progress(f"[{n}/{len(batch.steps)}] {what}")
        sim = await chain.simulate(tx)
        if not sim.ok and hashes:
            await _check(chain, batch, hashes)
            sim = await chain.simulate(tx)
        if not sim.ok:
            raise ChainError(f"devnet deployment would fail at {what!r}: {sim.error}")
        tx = {k: v for k, v in tx.items() if k != "from"}
        hashes.append((await chain.send(wallet, {**tx, "gas": sim.gas * 6 // 5 + 20_000, **fees})).hash)
    await _check(chain, batch, hashes)


async def _check(chain: ChainClient, batch: _Batch, hashes: list[str]) -> None:
    receipts = await asyncio.gather(*(chain.wait(h) for h in hashes))
    for (what, _), r in zip(batch.steps, receipts):
        if r["status"] != 1:
            raise ChainError(f"devnet deployment failed at {what!r} (tx {HexBytes(r['transactionHash']).to_0x_hex()})")


async def deploy_devnet(chain: ChainClient, wallet: Wallet, progress: Progress = lambda _: None,
                        fund: list[str] = (), eth_usd: int = 3000, pool_weth: int = 1000) -> Devnet:
    """Deploy the protocols from `wallet` (which needs 2 x `pool_weth` ETH and a little more:
    each Uniswap WETH/USDC pool gets `pool_weth` WETH and its worth in USDC) and give each address
    in `fund` 100,000 USDC and 100,000 DAI."""
    started = time.monotonic()
    me = wallet.address
    b = _Batch(me, int(await chain.w3.eth.get_transaction_count(me, "pending")))
    weth_ = b.add("WETH9", _create("WETH9"))
    usdc = b.add("USDC (6 decimals)", _create("DemoTokenWithDecimals", "USD Coin", "USDC", USDC_DECIMALS, 10**9 * 10**USDC_DECIMALS))
    dai = b.add("DAI (18 decimals)", _create("DemoToken", "Dai Stablecoin", "DAI", 10**9 * 10**DAI_DECIMALS))
    v2_factory = b.add("Uniswap v2 factory", _create("UniswapV2Factory", me))
    v2_router = b.add("Uniswap v2 router", _create("UniswapV2Router02", v2_factory, weth_))
    v3_factory = b.add("Uniswap v3 factory", _create("UniswapV3Factory"))
    nft_lib = b.add("Uniswap v3 NFTDescriptor library", _create("NFTDescriptor"))
    descriptor = b.add("Uniswap v3 position descriptor",
                       _create("NonfungibleTokenPositionDescriptor", weth_, b"ETH".ljust(32, b"\0"), libraries={"NFTDescriptor": nft_lib}))
    positions = b.add("Uniswap v3 position manager", _create("NonfungiblePositionManager", v3_factory, weth_, descriptor))
    v3_router = b.add("Uniswap v3 SwapRouter", _create("SwapRouter", v3_factory, weth_))
    quoter = b.add("Uniswap v3 QuoterV2", _create("QuoterV2", v3_factory, weth_))
    morpho_ = b.add("Morpho Blue", _create("Morpho", me))
    irm = b.add("Morpho IrmMock", _create("IrmMock"))
    oracle = b.add("Morpho OracleMock", _create("OracleMock"))
    market = morpho.MarketParams(usdc, weth_, oracle, irm, LLTV)
    b.add("oracle price", encode("morpho_oracle", oracle, "setPrice", morpho.oracle_price(Fraction(eth_usd), USDC_DECIMALS, 18)))
    b.add("Morpho enableIrm", encode("morpho_blue", morpho_, "enableIrm", irm))
    b.add("Morpho enableLltv", encode("morpho_blue", morpho_, "enableLltv", LLTV))
    b.add("Morpho createMarket USDC/WETH", encode("morpho_blue", morpho_, "createMarket", market.as_tuple()))

    pool_usdc, pool_dai = pool_weth * eth_usd * 10**USDC_DECIMALS, 100_000 * 10**DAI_DECIMALS
    pool_weth *= 10**18
    b.add(f"wrap {2 * pool_weth // 10**18} ETH", weth.wrap(weth_, 2 * pool_weth))
    for token, spender, name in ((weth_, v2_router, "WETH -> v2 router"), (usdc, v2_router, "USDC -> v2 router"),
                                 (dai, v2_router, "DAI -> v2 router"), (weth_, positions, "WETH -> v3 positions"),
                                 (usdc, positions, "USDC -> v3 positions"), (usdc, morpho_, "USDC -> Morpho")):
        b.add(f"approve {name}", encode("erc20", token, "approve", spender, MAX_UINT))
    b.add("v2 WETH/USDC liquidity", uniswap_v2.add_liquidity(v2_router, weth_, usdc, pool_weth, pool_usdc, me, FAR_DEADLINE))
    b.add("v2 DAI/USDC liquidity", uniswap_v2.add_liquidity(v2_router, dai, usdc, pool_dai, 100_000 * 10**USDC_DECIMALS, me, FAR_DEADLINE))
    b.add("v3 WETH/USDC pool", uniswap_v3.create_pool(positions, weth_, usdc, V3_FEE,
                                                       uniswap_v3.sqrt_price_x96(Fraction(eth_usd), weth_, usdc, 18, USDC_DECIMALS)))
    b.add("v3 WETH/USDC liquidity", uniswap_v3.mint_full_range(positions, weth_, usdc, V3_FEE, pool_weth, pool_usdc, me, FAR_DEADLINE))
    b.add("Morpho supply 1,000,000 USDC", morpho.supply(morpho_, market, 10**6 * 10**USDC_DECIMALS, me))
    for who in fund:
        b.add(f"fund {who[:10]}… USDC", encode("erc20", usdc, "transfer", to_checksum_address(who), 100_000 * 10**USDC_DECIMALS))
        b.add(f"fund {who[:10]}… DAI", encode("erc20", dai, "transfer", to_checksum_address(who), 100_000 * 10**DAI_DECIMALS))

    progress(f"deploying the DeFi devnet: {len(b.steps)} transactions from {me}")
    await _send(chain, wallet, b, progress)
    pair = await uniswap_v2.reserves(chain.w3, v2_factory, weth_, usdc)
    pool = await uniswap_v3.pool_state(chain.w3, v3_factory, weth_, usdc, V3_FEE)
    devnet = Devnet(await chain.chain_id(), me, weth_, usdc, dai, v2_factory, v2_router, v3_factory, v3_router, quoter,
                    positions, V3_FEE, pair.pair, pool.pool, morpho_, oracle, irm, HexBytes(market.id).to_0x_hex(), eth_usd)
    progress(f"devnet deployed in {time.monotonic() - started:.1f} s")
    return devnet
