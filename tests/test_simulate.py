"""Simulation for the guard on nodes that lack a tracing API (fault injected at the RPC
boundary): without eth_simulateV1 the guard reads the same flows from debug_traceCall; with
neither it refuses every write with rule `simulate` and says what RPC to use."""

from types import SimpleNamespace

import pytest

from concilium.chain.simulate import Simulator
from concilium.runtime import Runtime
from tests.conftest import spec_from
from tests.faults import RefusingMethods
from tests.guardkit import call, deploy_world, snapshot, tool, world_yaml


@pytest.fixture
async def keeper(stack, chain, tmp_path):
    world = await deploy_world(chain)
    async with Runtime.open(spec_from(world_yaml(world)), stack=stack, state_dir=tmp_path) as rt:
        yield rt.agents["keeper"], world


def lacking(agent, *methods):
    agent.chain.simulator = Simulator(SimpleNamespace(provider=RefusingMethods(agent.chain.w3.provider, set(methods))))


async def test_without_eth_simulate_v1_the_guard_reads_flows_from_debug_trace_call(keeper):
    agent, world = keeper
    lacking(agent, "eth_simulateV1")
    r = await agent.propose(tool("erc20_transfer", token="usdc", to="hot_wallet", amount=3))
    assert r.status == "confirmed", (r.rule, r.verdict)
    assert agent.chain.simulator.method == "debug_traceCall"
    r = await agent.propose(call("usdc", "multicall", data=[agent.ctx.contracts["usdc"].handle.encode_abi("approve", args=["0x000000000000000000000000000000000000bEEF", 1])]))
    assert (r.status, r.rule) == ("refused", "spender")
    r = await agent.propose(call("vault", "donate", eth_value=0.1))  # the internal ETH move shows in the call frames
    assert (r.status, r.rule) == ("refused", "recipient")


async def test_without_any_tracing_api_every_write_is_refused_with_a_clear_reason(keeper):
    agent, world = keeper
    lacking(agent, "eth_simulateV1", "debug_traceCall")
    before = await snapshot(agent, world)
    r = await agent.propose(tool("send_native", to="hot_wallet", amount=0.1))
    assert (r.status, r.rule) == ("refused", "simulate")
    assert "eth_simulateV1" in r.verdict and "debug_traceCall" in r.verdict
    assert await snapshot(agent, world) == before
