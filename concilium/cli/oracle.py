"""`concilium oracle ...`: run a local oracle network, run one node, ask a question."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from typer.core import TyperGroup

from concilium.cli import oracle_ops
from concilium.cli.console import console, err, fail, progress, run, until_stopped
from concilium.errors import ConciliumError

oracle_app = typer.Typer(no_args_is_help=True, help="The LLM oracle: nodes that agree by quorum and sign one result onchain.")
NETWORK_FILE = Path(".concilium/oracle/network.json")



@oracle_app.command("up")
def up(
    nodes: int = typer.Option(4, "--nodes", "-n", min=1, max=20, help="how many nodes (they tolerate f = (n-1)//3 faulty; quorum derived)"),
    state_dir: Path = typer.Option(Path(".concilium/oracle"), help="node databases, logs, network.json"),
    model_url: Optional[str] = typer.Option(None, help="use these running vLLM servers (OpenAI API URLs, comma-separated, "
                                            "one per --models family in order) instead of starting them"),
    model_name: Optional[str] = typer.Option(None, help="the served model names at --model-url, comma-separated "
                                             "(default: each family's bundled name)"),
    models: str = typer.Option("smollm2", "--models", help="bundled model families, comma-separated (e.g. smollm2,gemma3): "
                               "node i runs on family i mod k, each on its own vLLM server"),
    fee_floor_wei: int = typer.Option(0, "--fee-floor-wei", min=0, help="nodes skip requests paying less (they expire, refunded)"),
) -> None:
    """Start anvil + vLLM, deploy AgentOracle, and run NODES local nodes until Ctrl-C."""
    try:
        families = [family(m) for m in models.split(",") if m.strip()]
        servers = attached(families, model_url, model_name)
    except ConciliumError as e:
        fail(e, e.exit_code)
    run(_up(nodes, state_dir, families, servers, fee_floor_wei))


def family(name: str) -> str:
    """`smollm2`, `gemma3` or a full registry key -> `bundled:<key>`; a one-line error otherwise."""
    from concilium.stack.bundled import REGISTRY, bundled

    name = name.strip().removeprefix("bundled:")
    keys = [k for k in REGISTRY if k == name] or [k for k in REGISTRY if k.startswith(name)]
    return f"bundled:{keys[0]}" if len(keys) == 1 else f"bundled:{bundled('bundled:' + name).key}"


def attached(families: list[str], urls: str | None, names: str | None) -> list[tuple[str, str, str]]:
    """(family, url, served name) of each running server given on the command line, in --models order."""
    from concilium.stack.bundled import bundled

    url_list = [u.strip() for u in (urls or "").split(",") if u.strip()]
    name_list = [m.strip() for m in (names or "").split(",") if m.strip()]
    if len(url_list) > len(families) or len(name_list) > len(url_list or [None]):
        raise ConciliumError(f"{len(url_list)} --model-url and {len(name_list)} --model-name for {len(families)} model families: "
                             "give at most one of each per family, in --models order")
    return [(fam, url, name_list[i] if i < len(name_list) else bundled(fam).served_name) for i, (fam, url) in enumerate(zip(families, url_list))]


async def _up(n: int, state_dir: Path, families: list[str], servers: list[tuple[str, str, str]], fee_floor_wei: int) -> None:
    from concilium.oracle.network import LocalOracleNetwork
    from concilium.oracle.params import fault_tolerance
    from concilium.runtime import model_client
    from concilium.spec import ModelSpec
    from concilium.stack.embedded import EmbeddedStack

    f, quorum = fault_tolerance(n)

    stack = EmbeddedStack(state_dir, progress=progress)
    try:
        anvil = await stack.chain()
        for fam, url, name in servers:
            stack.attach(fam, url, name)
        clients = [await model_client(ModelSpec(serve=fam), stack, fam) for fam in families]
        net = await (await LocalOracleNetwork.deploy(anvil.url, clients, state_dir, n, fee_floor_wei=fee_floor_wei)).start()
        info = {"rpc": anvil.url, "oracle": net.oracle, "quorum": quorum, "f": f,
                "nodes": [{"address": x.address, "url": x.url, "model": x.model.name} for x in net.nodes]}
        (state_dir / "network.json").write_text(json.dumps(info, indent=1))
        console.print(f"AgentOracle [bold]{net.oracle}[/bold] on {anvil.url}, quorum {quorum} of {n} (tolerates {f} faulty)")
        for x in net.nodes:
            console.print(f"  node {x.address} at {x.url} ({x.model.name})")
        console.print(f"ask with: concilium oracle ask \"Is 7 a prime number?\" --kind bool   (reads {state_dir / 'network.json'})")
        try:
            await until_stopped()
        finally:
            await net.stop()
    finally:
        stack.stop()


def _families(model_ids) -> str:
    from concilium.llm.provenance import family_of
    from concilium.stack.bundled import REGISTRY

    names = sorted({family_of(m, tuple(e.family for e in REGISTRY.values())) for m in model_ids})
    return f"{len(names)} model famil{'y' if len(names) == 1 else 'ies'}: {', '.join(names)}"


class _RunByDefault(TyperGroup):
    """`concilium oracle node node.yaml` still runs a node: an unknown subcommand means `run`."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


node_app = typer.Typer(cls=_RunByDefault, no_args_is_help=True, help="One oracle node: `node init DIR`, `node run node.yaml`.")
oracle_app.add_typer(node_app, name="node")
node_app.command("init")(oracle_ops.node_init)
oracle_ops.register(oracle_app)


@node_app.command("run")
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
                                spec.backoff, start_block=spec.start_block, fee_floor_wei=spec.fee_floor_wei)
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
    fee: str = typer.Option("auto", help="'auto' (the oracle's estimateFee) or an amount, at least the estimate"),
    model_id: Optional[str] = typer.Option(None, help="pin the answering model (0x + 64 hex digits)"),
    min_families: int = typer.Option(0, min=0, max=255, help="the nodes that agree must run at least this many model "
                                     "families (e.g. 2 with `oracle up --models smollm2,gemma3`); 0 or 1: any"),
    request_timeout: str = typer.Option("0", help="the request's onchain timeout, e.g. 10m (0: the oracle's default)"),
    callback_gas: int = typer.Option(100_000, min=0, help="gas for the consumer's callback (an account needs none)"),
    network: Path = typer.Option(NETWORK_FILE, help="network.json written by `concilium oracle up` or `oracle deploy`"),
    rpc: Optional[str] = typer.Option(None, help="instead of --network: the chain's RPC URL (with --oracle)"),
    oracle: Optional[str] = typer.Option(None, help="instead of --network: the AgentOracle address (with --rpc)"),
    keystore: Optional[Path] = oracle_ops.KEYSTORE_OPT, password_env: Optional[str] = oracle_ops.PASSWORD_OPT,
    dev_account: Optional[int] = typer.Option(None, help="an anvil dev account that pays (default 2 when no keystore is given)"),
    timeout: float = typer.Option(300, help="seconds to wait for the answer"),
) -> None:
    """Ask the oracle a question and wait for the agreed answer."""
    from concilium.oracle.kinds import Kind
    from concilium.units import parse_amount

    try:
        k = Kind.parse(kind)
        wei = None if fee == "auto" else parse_amount(fee)
        onchain_timeout = oracle_ops._secs(request_timeout)
    except ValueError as e:
        fail(ConciliumError(str(e)), 2)
    if not (rpc and oracle) and not network.exists():
        fail(ConciliumError(f"{network} not found: start a local network with `concilium oracle up`, deploy one with "
                            "`concilium oracle deploy`, or pass --network (or --rpc and --oracle)"), 2)
    net = {"rpc": rpc, "oracle": oracle} if rpc and oracle else json.loads(network.read_text())
    if keystore is None and dev_account is None:
        dev_account = 2
    options = {"labels": [x.strip() for x in labels.split(",")] if labels else None, "fee": wei, "model_id": model_id,
               "timeout": onchain_timeout, "callback_gas": callback_gas, "min_families": min_families}
    run(_ask(net, prompt, k, options, (keystore, password_env, dev_account), timeout))


async def _ask(net: dict, prompt: str, kind, options: dict, wallet_args: tuple, timeout: float) -> None:
    from concilium.chain.client import ChainClient
    from concilium.oracle.client import OracleClient

    wallet = oracle_ops.wallet_from(*wallet_args, name="requester")
    chain = ChainClient([net["rpc"]])
    try:
        client = OracleClient(chain, net["oracle"], wallet)
        req = await client.request(prompt, kind, **options)
        quorum = int(await client.contract.functions.quorum().call())
        err.print(f"request {req.request_id} sent (tx {req.tx_hash}), fee {req.fee} wei (estimateFee at a gas price bound of "
                  f"{req.max_gas_price} wei); waiting for a quorum of {quorum}…")
        r = await req.result(timeout)
        console.print(f"answer: [bold]{r.value}[/bold]")
        console.print(f"signed by {len(r.signers)} node(s): {', '.join(r.signers)}")
        console.print(f"model ids: {', '.join(sorted(set(r.model_ids)))} ({_families(r.model_ids)})")
        console.print(f"fulfil tx {r.tx_hash} (gas {r.gas_used}), callback ok: {r.callback_ok}")
    finally:
        await chain.close()
