"""`concilium devnet`: deploy the local DeFi protocols (WETH9, Uniswap v2/v3, Morpho Blue, two
tokens) onto the embedded anvil, kept running until Ctrl-C, or onto any chain with `--rpc`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from concilium.cli.console import console, progress, run, until_stopped
from concilium.errors import WalletError



def devnet(
    rpc: Optional[str] = typer.Option(None, help="deploy onto this JSON-RPC endpoint instead of starting anvil"),
    dev_account: Optional[int] = typer.Option(None, min=0, max=9, help="deploy from this anvil dev account (default 0 on the embedded chain)"),
    keystore: Optional[Path] = typer.Option(None, help="deploy from this keystore (with --rpc); needs --password-env"),
    password_env: Optional[str] = typer.Option(None, help="the environment variable holding the keystore password"),
    fund: list[str] = typer.Option([], help="an address to give 100,000 USDC and 100,000 DAI (repeatable; embedded: dev accounts 1-9)"),
    out: Path = typer.Option(Path(".concilium/devnet"), help="where devnet.json and devnet.env go"),
    eth_usd: int = typer.Option(3000, min=1, help="the starting WETH price in USDC (pools and the lending oracle)"),
    pool_weth: int = typer.Option(1000, min=1, help="WETH in each Uniswap WETH/USDC pool (the deployer needs twice that in ETH)"),
) -> None:
    """Deploy WETH9, Uniswap v2 and v3 (seeded WETH/USDC pools), USDC, DAI and a Morpho Blue market."""
    run(_devnet(rpc, dev_account, keystore, password_env, fund, out, eth_usd, pool_weth))


async def _devnet(rpc: str | None, dev_account: int | None, keystore: Path | None, password_env: str | None,
                  fund: list[str], out: Path, eth_usd: int, pool_weth: int) -> None:
    from eth_utils import is_address

    from concilium.chain.client import ChainClient
    from concilium.chain.wallets import DEV_CHAIN_ID, dev_wallet, load_wallet
    from concilium.spec import WalletSpec
    from concilium.stack.devnet import deploy_devnet
    from concilium.stack.embedded import EmbeddedStack

    for a in fund:
        if not is_address(a):
            raise WalletError(f"--fund {a!r} is not an address (0x and 40 hex digits)")
    if keystore is not None and rpc is None:
        raise WalletError("--keystore is for --rpc chains; the embedded anvil deploys from a dev account")
    if keystore is not None and dev_account is not None:
        raise WalletError("give either --keystore or --dev-account, not both")
    if rpc is not None and keystore is None and dev_account is None:
        raise WalletError("--rpc needs a deployer: --keystore PATH --password-env VAR, or --dev-account N on a local anvil")
    stack = EmbeddedStack(out, progress=progress) if rpc is None else None
    try:
        url = rpc or (await stack.chain()).url
        chain = ChainClient([url])
        try:
            if keystore is not None:
                wallet = load_wallet("deployer", WalletSpec(keystore=keystore, password_env=password_env or ""))
            else:
                if rpc is not None and await chain.chain_id() != DEV_CHAIN_ID:
                    raise WalletError(f"--dev-account keys are public: only for anvil (chain id {DEV_CHAIN_ID}), not chain {await chain.chain_id()}")
                wallet = dev_wallet(dev_account or 0, "deployer")
            if rpc is None and not fund:
                fund = [dev_wallet(i).address for i in range(10) if dev_wallet(i).address != wallet.address]
            net = await deploy_devnet(chain, wallet, progress, fund=fund, eth_usd=eth_usd, pool_weth=pool_weth)
        finally:
            await chain.close()
        js, env = net.write(out, rpc=url)
        console.print(f"DeFi devnet on {url} (chain {net.chain_id}), deployed by {net.deployer}")
        for name, value in net.env().items():
            console.print(f"  {name:<22} {value}")
        console.print(f"written: {js} and {env} (`source {env}` gives YAML its ${{WETH}}, ${{USDC}}, ...)")
        if stack is not None:
            console.print("anvil keeps running; Ctrl-C stops it")
            await until_stopped()
    finally:
        if stack is not None:
            stack.stop()
