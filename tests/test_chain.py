"""The chain layer on a real anvil: failover, nonces under concurrency, fees, simulation, wallets."""

import asyncio
import json
import pickle

import pytest
from eth_account import Account

from concilium.chain.abi import ERC20_ABI
from concilium.chain.client import ChainClient
from concilium.chain.reads import Read, batch_read
from concilium.chain.wallets import dev_wallet, load_wallet
from concilium.errors import ChainError, WalletError
from concilium.spec import WalletSpec
from concilium.stack.process import free_port
from tests.conftest import COLD, deploy_token


async def test_failover_when_the_first_url_is_dead(anvil):
    dead = f"http://127.0.0.1:{free_port()}"
    c = ChainClient([dead, anvil.url])
    assert await c.chain_id() == 31337
    assert c.w3.provider.current_url == anvil.url  # stays on the live endpoint
    assert await c.w3.eth.block_number >= 0
    await c.close()


async def test_every_url_dead_is_a_clear_chain_error():
    c = ChainClient([f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"])
    with pytest.raises(ChainError, match="every RPC endpoint failed"):
        await c.chain_id()
    await c.close()


async def test_concurrent_sends_from_one_account_get_consecutive_nonces(chain):
    w = dev_wallet(5)
    start = await chain.mined_nonce(w.address)
    fees = await chain.fees()
    sent = await asyncio.gather(*(chain.send(w, {"to": COLD, "value": 1, "gas": 21000, **fees.as_tx()}) for _ in range(20)))
    assert sorted(s.nonce for s in sent) == list(range(start, start + 20))
    receipts = await asyncio.gather(*(chain.wait(s.hash) for s in sent))
    assert all(r["status"] == 1 for r in receipts)


async def test_nonce_is_not_skipped_when_a_send_fails_before_broadcast(chain):
    w = dev_wallet(5)
    fees = await chain.fees()

    async def fail(_):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        await chain.send(w, {"to": COLD, "value": 1, "gas": 21000, **fees.as_tx()}, before_broadcast=fail)
    s = await chain.send(w, {"to": COLD, "value": 1, "gas": 21000, **fees.as_tx()})
    assert (await chain.wait(s.hash))["status"] == 1


async def test_fees_respect_the_cap(chain):
    fees = await chain.fees(cap=10**9)
    assert fees.max_fee_per_gas <= 10**9
    assert fees.max_priority_fee_per_gas <= fees.max_fee_per_gas


async def test_simulation_reports_a_revert(chain):
    token = chain.contract(await deploy_token(chain), ERC20_ABI)
    data = token.encode_abi("transfer", args=[COLD, 10**30])  # more than the supply
    sim = await chain.simulate({"from": dev_wallet(0).address, "to": token.address, "data": data})
    assert not sim.ok and "revert" in sim.error


async def test_one_observation_is_one_batch(chain):
    token = chain.contract(await deploy_token(chain, name="Batch"), ERC20_ABI)
    w = dev_wallet(0).address
    bal, name, block = await batch_read(chain.w3, [Read("balance", address=w), Read("call", contract=token, function="name"), Read("block")])
    assert bal > 0 and name == "Batch" and block["number"] > 0


def test_keystore_wallet_and_its_errors(tmp_path, monkeypatch):
    acct = Account.create()
    ks = tmp_path / "k.json"
    ks.write_text(json.dumps(Account.encrypt(acct.key, "hunter2")))
    spec = WalletSpec(keystore=ks, password_env="KS_PW")
    monkeypatch.delenv("KS_PW", raising=False)
    with pytest.raises(WalletError, match="KS_PW is not set"):
        load_wallet("w", spec)
    monkeypatch.setenv("KS_PW", "wrong")
    with pytest.raises(WalletError, match="wrong password") as e:
        load_wallet("w", spec)
    assert acct.key.hex() not in str(e.value)
    monkeypatch.setenv("KS_PW", "hunter2")
    w = load_wallet("w", spec)
    assert w.address == acct.address
    assert acct.key.hex()[2:] not in repr(w) and acct.key.hex()[2:] not in str(w)
    with pytest.raises(TypeError):
        pickle.dumps(w)
