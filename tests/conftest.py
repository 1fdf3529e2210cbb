"""One real stack per test session: anvil and vLLM serving the bundled SmolLM2-135M.

Tests build their YAML with `rpc: embedded` / `serve: bundled` and pass the session stack to
`Runtime.open`, so every test runs on the real processes while having its own state dir.
The session's vLLM is the machine's shared server (stack/shared.py), as for `demo`, `run` and
benchmarks: reused from, or left for, an earlier or later session, demo or benchmark.
CONCILIUM_TEST_SHARED_VLLM=0 gives the session a private server; CONCILIUM_TEST_VLLM_URL attaches
to a given server.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import textwrap
import uuid
from pathlib import Path

import pytest

from concilium.chain.client import ChainClient
from concilium.chain.deploy import deploy
from concilium.chain.wallets import dev_wallet
from concilium.spec import parse_spec
from concilium.stack.bundled import REGISTRY
from concilium.stack.embedded import EmbeddedStack
from concilium.stack.model import BUNDLED_NAME
from concilium.stack.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]

# A hung async test must fail on its own and leave the session's event loop usable: a timeout
# raised by a signal inside the loop left it broken and every later test hung to its own timeout
# (CI: ten minutes per test). So each async test runs as a task with a deadline inside the loop;
# pytest-timeout (thread method, pyproject) stays as the backstop that ends a truly stuck process.
TEST_DEADLINE = 300.0
WEDGED_AFTER = 3  # tests past their deadline before the session counts as wedged
_overdue: list[str] = []


def _bounded(test, seconds: float):
    @functools.wraps(test)
    async def run(*args, **kwargs):
        if len(_overdue) >= WEDGED_AFTER:
            pytest.fail(f"not run: {len(_overdue)} tests already hung past their deadline ({', '.join(_overdue)})")
        task = asyncio.ensure_future(test(*args, **kwargs))
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if task in done:
            return task.result()
        _overdue.append(test.__name__)
        task.cancel()
        await asyncio.wait({task}, timeout=20)  # let finally-blocks clean up, but do not wait forever
        raise TimeoutError(f"test did not finish within {seconds:.0f} s (cancelled)")
    return run


def pytest_collection_modifyitems(items):
    for item in items:
        test = getattr(item, "obj", None)
        if inspect.iscoroutinefunction(test) and not hasattr(test, "hypothesis"):
            marker = item.get_closest_marker("timeout")
            item.obj = _bounded(test, marker.args[0] - 60 if marker else TEST_DEADLINE)


@pytest.fixture(scope="session")
async def stack(tmp_path_factory):
    s = EmbeddedStack(tmp_path_factory.mktemp("stack"), progress=lambda m: print(m, flush=True),
                      shared=os.environ.get("CONCILIUM_TEST_SHARED_VLLM", "1") != "0")
    if url := os.environ.get("CONCILIUM_TEST_VLLM_URL"):  # developers: reuse a running server
        s.attach("bundled", url, BUNDLED_NAME)
    yield s
    s.stop()


class LazyPostgres:
    """One PostgreSQL server for the session, started by the first test that needs it."""

    def __init__(self):
        self.server: PostgresServer | None = None

    async def database(self) -> str:
        if self.server is None:
            self.server = await PostgresServer().start(progress=lambda m: print(m, flush=True))
        return await self.server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def postgres():
    pg = LazyPostgres()
    yield pg
    if pg.server is not None:
        pg.server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request, postgres, tmp_path):
    """The state database of a service test: SQLite in the test's state dir, or a fresh
    database on the session's real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'state.db'}"
    return await postgres.database()


@pytest.fixture(scope="session")
async def anvil(stack):
    return await stack.chain()


@pytest.fixture(scope="session")
async def vllm(stack):
    server, _ = await stack.model("bundled")
    return server


@pytest.fixture(autouse=True)
async def _session_stack_answers(request):
    """Fail at once, saying why, when a session server a test needs has stopped answering, rather
    than let the test (and every one after it) wait out its deadline."""
    import httpx

    checks = {"anvil": lambda s: ("POST", s.url, {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}),
              "vllm": lambda s: ("GET", s.url + "/models", None)}
    for name, probe in checks.items():
        if name not in request.fixturenames:
            continue
        method, url, body = probe(request.getfixturevalue(name))
        try:
            async with httpx.AsyncClient(timeout=20) as c:
                (await c.request(method, url, json=body)).raise_for_status()
        except httpx.HTTPError as e:
            pytest.fail(f"the session's {name} at {url} does not answer ({type(e).__name__}: {e}); "
                        f"see its log under the session's stack dir")


@pytest.fixture(scope="session")
async def gemma(stack):
    """The second model family (Gemma 3 270M) on its own vLLM, started once per session (or attached
    from CONCILIUM_TEST_GEMMA_URL)."""
    if url := os.environ.get("CONCILIUM_TEST_GEMMA_URL"):
        stack.attach("bundled:gemma3-270m", url, REGISTRY["gemma3-270m"].served_name)
    server, _ = await stack.model("bundled:gemma3-270m")
    return server


@pytest.fixture
async def chain(anvil):
    c = ChainClient([anvil.url])
    yield c
    await c.close()


async def deploy_token(chain: ChainClient, name: str = "USD Coin", owner: int = 0, supply: int = 10**24) -> str:
    return await deploy(chain, dev_wallet(owner), "DemoToken", name, "USDC", supply)


@pytest.fixture
async def token(chain):
    return await deploy_token(chain)


async def set_balance(chain: ChainClient, address: str, wei: int) -> None:
    await chain.w3.provider.make_request("anvil_setBalance", [address, hex(wei)])


def keeper_yaml(token: str = "0x0000000000000000000000000000000000000001", policy: str = "", extra_agent: str = "",
                observe: str = "") -> str:
    """The treasury keeper of examples/, with the policy overridable per test."""
    policy = policy or """
      recipients: [hot_wallet]
      max_value_per_tx: 2 ether
      max_value_per_day: 10 ether
      token_limits: {usdc: {per_tx: 100, per_day: 150}}
      max_gas_price: 50 gwei
    """
    observe = observe or """
      - balance: hot_wallet
      - balance: treasury
      - erc20_balance: {token: usdc, holder: hot_wallet}
      - call: {contract: usdc, function: name}
    """
    return textwrap.dedent("""
    version: 1
    models:
      local: {serve: bundled}
    chains:
      dev: {rpc: embedded}
    wallets:
      treasury: {dev_account: 0}
      hot: {dev_account: 1}
    addresses:
      treasury: {wallet: treasury}
      hot_wallet: {wallet: hot}
      cold_storage: "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
    contracts:
      usdc: {address: "%s", abi: erc20}
    agents:
      - name: treasury-keeper
        model: local
        chain: dev
        wallet: treasury
        instructions: >
          Keep the hot wallet above 5 ETH. When its balance is below 5 ETH, send 1.5 ETH
          from the treasury to hot_wallet. Otherwise do nothing.
        observe: %s
        tools: [send_native, erc20_transfer]
        policy: %s
    %s
    """) % (token, textwrap.indent(textwrap.dedent(observe), "      "), textwrap.indent(textwrap.dedent(policy), "      "), extra_agent)


def spec_from(text: str):
    return parse_spec(text, base_dir=ROOT)


HOT = dev_wallet(1).address
COLD = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


DEVNET_DEPLOYER = 9  # the DeFi devnet's own account; 6, 7 and 8 get USDC and DAI from it
DEVNET_FUNDED = (6, 7, 8)


@pytest.fixture(scope="session")
async def devnet(anvil):
    """WETH9, Uniswap v2/v3, Morpho Blue and two tokens from their npm builds, deployed once."""
    from concilium.stack.devnet import deploy_devnet

    chain = ChainClient([anvil.url])
    try:
        return await deploy_devnet(chain, dev_wallet(DEVNET_DEPLOYER), fund=[dev_wallet(i).address for i in DEVNET_FUNDED])
    finally:
        await chain.close()
