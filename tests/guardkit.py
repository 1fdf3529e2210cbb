"""A hostile little world for the guard's tests: two HostileTokens (6 and 18 decimals, with
multicall, increaseAllowance, setApprovalForAll), a Puller vault that robs its callers, and an
agent whose policy allows a little of everything: 10 units of approval to hot_wallet and the
vault, 100 per tx / 150 per day of each token to hot_wallet, 1 / 2 ETH."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.deploy import deploy
from concilium.chain.wallets import dev_wallet
from concilium.llm.decisions import Decision
from tests.conftest import COLD, HOT

THIEF = "0x000000000000000000000000000000000000bEEF"
TOKEN_FNS = "[transfer, transferFrom, approve, increaseAllowance, setApprovalForAll, multicall]"


@dataclass
class World:
    usdc: str
    dai: str
    vault: str


async def deploy_world(chain: ChainClient, usdc_name: str = "USD Coin", usdc_symbol: str = "USDC") -> World:
    owner = dev_wallet(0)
    usdc = await deploy(chain, owner, "HostileToken", usdc_name, usdc_symbol, 6, 10**6 * 10**6)
    dai = await deploy(chain, owner, "HostileToken", "Dai", "DAI", 18, 10**6 * 10**18)
    vault = await deploy(chain, owner, "Puller", THIEF)
    return World(usdc, dai, vault)


async def world_on(rpc_url: str, self_approved: bool = False) -> World:
    """A fresh world on its own client; `self_approved`: the wallet has approved itself for
    both tokens, so transferFrom(wallet, x) by the wallet would go through."""
    chain = ChainClient([rpc_url])
    try:
        w = await deploy_world(chain)
        me = dev_wallet(0)
        for token in (w.usdc, w.dai) if self_approved else ():
            c = chain.contract(token, artifact("HostileToken")["abi"])
            await chain.transact(me, {"to": token, "data": c.encode_abi("approve", args=[me.address, 2**256 - 1])})
        return w
    finally:
        await chain.close()


def world_yaml(w: World, policy_extra: str = "", tools: str = "[send_native, erc20_transfer, approve, revoke, write_contract, allowance]",
               instructions: str = "Keep things as they are.", observe: str = "[]") -> str:
    return textwrap.dedent(f"""
    version: 1
    models: {{local: {{serve: bundled}}}}
    chains: {{dev: {{rpc: embedded}}}}
    wallets: {{treasury: {{dev_account: 0}}, hot: {{dev_account: 1}}}}
    addresses:
      treasury: {{wallet: treasury}}
      hot_wallet: {{wallet: hot}}
      cold_storage: "{COLD}"
      thief: "{THIEF}"
    contracts:
      usdc: {{address: "{w.usdc}", abi: "artifact:HostileToken"}}
      dai: {{address: "{w.dai}", abi: "artifact:HostileToken"}}
      vault: {{address: "{w.vault}", abi: "artifact:Puller"}}
    agents:
      - name: keeper
        model: local
        chain: dev
        wallet: treasury
        instructions: {instructions!r}
        tools: {tools}
        observe: {observe}
        policy:
          recipients: [hot_wallet]
          spenders: {{hot_wallet: {{usdc: 10, dai: 10}}, vault: {{usdc: 10}}}}
          limits: {{ETH: {{per_tx: 1, per_day: 2}}, usdc: {{per_tx: 100, per_day: 150}}, dai: {{per_tx: 100, per_day: 150}}}}
          contracts: {{usdc: {TOKEN_FNS}, dai: {TOKEN_FNS}, vault: [deposit, donate, aggregate]}}
{textwrap.indent(textwrap.dedent(policy_extra), " " * 10)}
    """)


def call(contract: str, function: str, **inputs) -> Decision:
    return Decision(action="write_contract", args={"contract": contract, "function": function, "inputs": inputs}, reason="test")


def tool(action: str, **args) -> Decision:
    return Decision(action=action, args=args, reason="test")


async def snapshot(agent, w: World) -> dict:
    """Everything a disallowed flow could change: balances of everyone but the hot wallet's
    allowed share, every allowance the wallet has granted, and the wallet's nonce."""
    eth = agent.chain.w3.eth
    me = agent.wallet.address
    out = {"nonce": await eth.get_transaction_count(me)}
    for who in (COLD, THIEF, HOT, w.vault):
        out[f"eth:{who}"] = await eth.get_balance(who)
        for t in ("usdc", "dai"):
            h = agent.ctx.contracts[t].handle
            out[f"{t}:{who}"] = await h.functions.balanceOf(who).call()
            out[f"{t}>{who}"] = await h.functions.allowance(me, who).call()
            out[f"{t}>>{who}"] = await h.functions.isApprovedForAll(me, who).call()
    return out
