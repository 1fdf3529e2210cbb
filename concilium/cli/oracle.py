"""`concilium oracle ...`: run a local oracle network, run one node, ask a question."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from concilium.cli.console import console, err, fail, progress, run, until_stopped
from concilium.errors import ConciliumError

oracle_app = typer.Typer(no_args_is_help=True, help="The LLM oracle: nodes that agree by quorum and sign one result onchain.")
NETWORK_FILE = Path(".concilium/oracle/network.json")



@oracle_app.command("up")
def up(
    nodes: int = typer.Option(4, "--nodes", "-n", min=1, max=20, help="how many nodes"),
    quorum: Optional[int] = typer.Option(None, help="signatures needed (default: a majority plus one below n, e.g. 3 of 4)"),
    state_dir: Path = typer.Option(Path(".concilium/oracle"), help="node databases, logs, network.json"),
    model_url: Optional[str] = typer.Option(None, help="use this running vLLM server (OpenAI API URL) instead of starting one"),
    model_name: str = typer.Option("SmolLM2-135M-Instruct", help="the served model name at --model-url"),
) -> None:
    """Start anvil + vLLM, deploy AgentOracle, and run NODES local nodes until Ctrl-C."""
    q = quorum or (nodes // 2 + 1 if nodes < 4 else nodes - (nodes - 1) // 3)
    if not nodes // 2 < q <= nodes:
        fail(ConciliumError(f"quorum {q} must be a majority of {nodes} nodes (more than {nodes // 2}, at most {nodes})"), 2)
    run(_up(nodes, q, state_dir, model_url, model_name))


async def _up(n: int, quorum: int, state_dir: Path, model_url: str | None, model_name: str) -> None:
    from concilium.llm.client import ModelClient
    from concilium.oracle.network import LocalOracleNetwork
    from concilium.stack.embedded import EmbeddedStack

    stack = EmbeddedStack(state_dir, progress=progress)
    try:
        anvil = await stack.chain()
        if model_url:
            stack.attach("bundled", model_url, model_name)
        server, digest = await stack.model("bundled")
        model = ModelClient(server.url, server.served_name, weights_digest=digest)
        net = await (await LocalOracleNetwork.deploy(anvil.url, model, state_dir, n, quorum)).start()
        info = {"rpc": anvil.url, "oracle": net.oracle, "quorum": quorum,
                "nodes": [{"address": x.address, "url": x.url} for x in net.nodes]}
        (state_dir / "network.json").write_text(json.dumps(info, indent=1))
        console.print(f"AgentOracle [bold]{net.oracle}[/bold] on {anvil.url}, quorum {quorum} of {n}")
        for x in net.nodes:
            console.print(f"  node {x.address} at {x.url}")
        console.print(f"ask with: concilium oracle ask \"Is 7 a prime number?\" --kind bool   (reads {state_dir / 'network.json'})")
        try:
            await until_stopped()
        finally:
            await net.stop()
    finally:
        stack.stop()


@oracle_app.command("node")
def node(file: Path = typer.Argument(..., help="node YAML")) -> None:
    """Run one oracle node against any chain (see concilium/oracle/config.py for node.yaml)."""
    from concilium.oracle.config import NodeSpec
    from concilium.spec import load_yaml

    try:
        spec = load_yaml(file, NodeSpec)
    except ConciliumError as e:
        fail(e, e.exit_code)
    run(_node(spec))


async def _node(spec) -> None:
    from concilium.chain.wallets import load_wallet
    from concilium.oracle.node import NodeSettings, OracleNode
    from concilium.oracle.store import OracleStore
    from concilium.runtime import chain_client, model_client
    from concilium.stack.embedded import EmbeddedStack

    state = Path(spec.state_dir or spec.base_dir / ".concilium" / "node")
    state.mkdir(parents=True, exist_ok=True)
    stack = EmbeddedStack(state, progress=progress)
    try:
        chain = await chain_client(spec.chain, stack)
        model = await model_client(spec.model, stack, "model")
        wallet = load_wallet("node", spec.wallet, spec.base_dir)
        settings = NodeSettings(spec.oracle, spec.listen.host, spec.listen.port, tuple(spec.peers), spec.chain.confirmations,
                                spec.backoff, start_block=spec.start_block)
        store = OracleStore(spec.store_url) if spec.store_url else OracleStore.sqlite(state / "node.db")
        n = await OracleNode(settings, wallet, chain, model, store).start()
        console.print(f"oracle node {n.address} listening on {n.url}, watching {spec.oracle}")
        try:
            await until_stopped()
        finally:
            await n.stop()
    finally:
        stack.stop()


@oracle_app.command("ask")
def ask(
    prompt: str = typer.Argument(..., help="the question"),
    kind: str = typer.Option("bool", help="bool, choice, uint, int or text"),
    labels: Optional[str] = typer.Option(None, help="for --kind choice: comma-separated labels"),
    fee: str = typer.Option("0.001 ether", help="paid to the nodes that agree"),
    network: Path = typer.Option(NETWORK_FILE, help="network.json written by `concilium oracle up`"),
    dev_account: int = typer.Option(2, help="the anvil dev account that pays (local network only)"),
    timeout: float = typer.Option(300, help="seconds to wait for the answer"),
) -> None:
    """Ask the oracle a question and wait for the agreed answer."""
    from concilium.oracle.kinds import Kind
    from concilium.units import parse_amount

    try:
        k = Kind.parse(kind)
        wei = parse_amount(fee)
    except ValueError as e:
        fail(ConciliumError(str(e)), 2)
    if not network.exists():
        fail(ConciliumError(f"{network} not found: start a local network with `concilium oracle up`, or pass --network"), 2)
    run(_ask(json.loads(network.read_text()), prompt, k, [s.strip() for s in labels.split(",")] if labels else None, wei, dev_account, timeout))


async def _ask(net: dict, prompt: str, kind, labels, fee: int, dev_account: int, timeout: float) -> None:
    from concilium.chain.client import ChainClient
    from concilium.chain.wallets import dev_wallet
    from concilium.oracle.client import OracleClient

    chain = ChainClient([net["rpc"]])
    try:
        client = OracleClient(chain, net["oracle"], dev_wallet(dev_account))
        req = await client.request(prompt, kind, labels=labels, fee=fee)
        err.print(f"request {req.request_id} sent (tx {req.tx_hash}); waiting for a quorum of {net['quorum']}…")
        r = await req.result(timeout)
        console.print(f"answer: [bold]{r.value}[/bold]")
        console.print(f"signed by {len(r.signers)} node(s): {', '.join(r.signers)}")
        console.print(f"model ids: {', '.join(sorted(set(r.model_ids)))}")
        console.print(f"fulfil tx {r.tx_hash} (gas {r.gas_used}), callback ok: {r.callback_ok}")
    finally:
        await chain.close()
