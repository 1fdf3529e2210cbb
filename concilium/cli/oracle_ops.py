"""`concilium oracle deploy | nodes add|remove|apply | status | node init`: an operator's
commands for an AgentOracle on any chain (any RPC, a keystore or dev wallet). The work is in
`concilium.oracle.admin`; these parse options and print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from concilium.cli.console import console, err, fail, run
from concilium.errors import ConciliumError

DEFAULT_NETWORK = Path("network.json")
KEYSTORE_OPT = typer.Option(None, "--keystore", help="the wallet's keystore JSON (with --password-env)")
PASSWORD_OPT = typer.Option(None, "--password-env", help="environment variable holding the keystore password")
DEV_OPT = typer.Option(None, "--dev-account", help="an anvil dev account (0-9) instead of a keystore: local chains only")


def wallet_from(keystore: Optional[Path], password_env: Optional[str], dev_account: Optional[int], name: str = "operator"):
    """One wallet from the command line: a keystore + password variable, or a dev account."""
    from pydantic import ValidationError

    from concilium.chain.wallets import load_wallet
    from concilium.spec import WalletSpec

    try:
        spec = WalletSpec(keystore=keystore, password_env=password_env, dev_account=dev_account)
    except ValidationError as e:
        raise ConciliumError("wallet: " + e.errors()[0]["msg"].removeprefix("Value error, ") + " (--keystore + --password-env, or --dev-account)") from None
    return load_wallet(name, spec)


def network_or(network: Path, rpc: Optional[str], oracle: Optional[str]):
    from concilium.oracle.admin import NetworkFile

    if rpc and oracle:
        return NetworkFile(rpc, 0, oracle, "", 0)
    return NetworkFile.load(network)


def _secs(value: str) -> int:
    from concilium.units import parse_duration

    return 0 if value.strip() in ("0", "0s") else int(parse_duration(value))


def register(oracle_app: typer.Typer) -> None:
    oracle_app.command("deploy")(deploy)
    oracle_app.command("status")(status)
    nodes_app = typer.Typer(no_args_is_help=True, help="Change the registry (through the contract's timelock).")
    nodes_app.command("add")(nodes_add)
    nodes_app.command("remove")(nodes_remove)
    nodes_app.command("apply")(nodes_apply)
    oracle_app.add_typer(nodes_app, name="nodes")


def deploy(
    rpc: str = typer.Option(..., help="JSON-RPC URL of the chain"),
    node: list[str] = typer.Option(..., "--node", help="a node address (repeat; n >= 3f+1, f and the quorum derived)"),
    keystore: Optional[Path] = KEYSTORE_OPT, password_env: Optional[str] = PASSWORD_OPT, dev_account: Optional[int] = DEV_OPT,
    delay: str = typer.Option("1d", help="timelock for registry and parameter changes (0 applies them at once)"),
    min_timeout: str = typer.Option("60s", help="shortest request timeout"),
    max_timeout: str = typer.Option("1d", help="longest request timeout"),
    default_timeout: str = typer.Option("1h", help="timeout of a request that names none"),
    max_prompt_bytes: int = typer.Option(32_768, min=1),
    max_options_bytes: int = typer.Option(4_096, min=0),
    max_callback_gas: int = typer.Option(2_000_000, min=0),
    fund: str = typer.Option("0", help="send each node this much for its fulfil gas, e.g. '0.5 ether'"),
    stake: str = typer.Option("0.1 ether", help="the stake each node must put up before it signs (slashed if it double-signs)"),
    unbonding: str = typer.Option("0", help="how long a stake stays slashable after unbonding (0: --max-timeout)"),
    out: Path = typer.Option(DEFAULT_NETWORK, help="where to write network.json"),
) -> None:
    """Deploy AgentOracle with a registry and parameters; write network.json."""
    from concilium.oracle.params import OracleParams
    from concilium.units import parse_amount

    try:
        params = OracleParams(_secs(delay), _secs(min_timeout), _secs(max_timeout), _secs(default_timeout),
                              max_prompt_bytes, max_options_bytes, max_callback_gas)
        fund_wei = parse_amount(fund) if fund != "0" else 0
        stake_wei = parse_amount(stake) if stake != "0" else 0
        unbonding_s = _secs(unbonding) or None
    except ValueError as e:
        fail(ConciliumError(str(e)), 2)
    run(_deploy(rpc, node, keystore, password_env, dev_account, params, fund_wei, out, stake_wei, unbonding_s))


async def _deploy(rpc, nodes, keystore, password_env, dev_account, params, fund_wei, out: Path, stake_wei: int = 0,
                  unbonding: int | None = None) -> None:
    from concilium.chain.client import ChainClient
    from concilium.oracle.admin import addresses, check_registry, deploy_oracle

    nodes = addresses(nodes)
    f, quorum = check_registry(nodes)
    owner = wallet_from(keystore, password_env, dev_account, "owner")
    chain = ChainClient([rpc])
    try:
        err.print(f"deploying AgentOracle from {owner.address}: {len(nodes)} nodes, tolerates f={f}, quorum {quorum}…")
        net = await deploy_oracle(chain, owner, nodes, params, rpc, fund_wei, stake_wei, unbonding)
    finally:
        await chain.close()
    net.save(out)
    console.print(f"AgentOracle [bold]{net.oracle}[/bold] on chain {net.chain_id} (block {net.deploy_block}); wrote {out}")


def nodes_add(
    address: list[str] = typer.Argument(..., help="node addresses to add"),
    network: Path = typer.Option(DEFAULT_NETWORK, help="network.json from `concilium oracle deploy`"),
    keystore: Optional[Path] = KEYSTORE_OPT, password_env: Optional[str] = PASSWORD_OPT, dev_account: Optional[int] = DEV_OPT,
) -> None:
    """Propose the registry with these nodes added (applied at once when the delay is 0)."""
    run(_propose(network, keystore, password_env, dev_account, add=address))


def nodes_remove(
    address: list[str] = typer.Argument(..., help="node addresses to remove"),
    network: Path = typer.Option(DEFAULT_NETWORK, help="network.json from `concilium oracle deploy`"),
    keystore: Optional[Path] = KEYSTORE_OPT, password_env: Optional[str] = PASSWORD_OPT, dev_account: Optional[int] = DEV_OPT,
) -> None:
    """Propose the registry with these nodes removed (applied at once when the delay is 0)."""
    run(_propose(network, keystore, password_env, dev_account, remove=address))


async def _propose(network: Path, keystore, password_env, dev_account, add=(), remove=()) -> None:
    import time

    from concilium.chain.client import ChainClient
    from concilium.oracle.admin import NetworkFile, addresses, propose_nodes

    net = NetworkFile.load(network)
    owner = wallet_from(keystore, password_env, dev_account, "owner")
    chain = ChainClient([net.rpc])
    try:
        p = await propose_nodes(chain, owner, net.oracle, addresses(list(add)), addresses(list(remove)))
    finally:
        await chain.close()
    if p.applied:
        net.nodes = p.nodes
        net.save(network)
        console.print(f"registry now {len(p.nodes)} node(s): {', '.join(p.nodes)}")
    else:
        console.print(f"proposed {len(p.nodes)} node(s); due at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(p.eta))}: "
                      f"then run `concilium oracle nodes apply`")


def nodes_apply(
    network: Path = typer.Option(DEFAULT_NETWORK, help="network.json from `concilium oracle deploy`"),
    keystore: Optional[Path] = KEYSTORE_OPT, password_env: Optional[str] = PASSWORD_OPT, dev_account: Optional[int] = DEV_OPT,
) -> None:
    """Apply a registry proposal that is due (anyone may)."""
    run(_apply(network, keystore, password_env, dev_account))


async def _apply(network: Path, keystore, password_env, dev_account) -> None:
    from concilium.chain.client import ChainClient
    from concilium.oracle.admin import NetworkFile, apply_nodes, oracle_contract

    net = NetworkFile.load(network)
    wallet = wallet_from(keystore, password_env, dev_account)
    chain = ChainClient([net.rpc])
    try:
        epoch = await apply_nodes(chain, wallet, net.oracle)
        net.nodes = list(await oracle_contract(chain, net.oracle).functions.nodes().call())
    finally:
        await chain.close()
    net.save(network)
    console.print(f"registry epoch {epoch}: {len(net.nodes)} node(s)")


def status(
    network: Path = typer.Option(DEFAULT_NETWORK, help="network.json from `concilium oracle deploy`"),
    rpc: Optional[str] = typer.Option(None, help="instead of --network: the chain's RPC URL (with --oracle)"),
    oracle: Optional[str] = typer.Option(None, help="instead of --network: the AgentOracle address (with --rpc)"),
    from_block: Optional[int] = typer.Option(None, help="scan events from this block (default: the deploy block)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Registry, epoch, f and quorum, parameters and proposals, pending requests, each node's last round."""
    net = network_or(network, rpc, oracle) if (rpc and oracle) else None
    if net is None:
        try:
            net = network_or(network, None, None)
        except ConciliumError as e:
            fail(e, 2)
    run(_status(net, from_block if from_block is not None else net.deploy_block, as_json))


async def _status(net, from_block: int, as_json: bool) -> None:
    from concilium.chain.client import ChainClient
    from concilium.oracle.admin import status as read_status

    chain = ChainClient([net.rpc])
    try:
        s = await read_status(chain, net.oracle, from_block)
    finally:
        await chain.close()
    if as_json:
        console.print_json(json.dumps(s))
        return
    console.print(f"AgentOracle {s['oracle']} on chain {s['chain_id']}, owner {s['owner']}")
    console.print(f"epoch {s['epoch']}: {len(s['nodes'])} node(s), tolerates f={s['f']}, quorum {s['quorum']}")
    p = s["params"]
    console.print(f"timelock {p['delay']} s; timeouts {p['min_timeout']}-{p['max_timeout']} s (default {p['default_timeout']}); "
                  f"prompt <= {p['max_prompt_bytes']} B, options <= {p['max_options_bytes']} B, callback gas <= {p['max_callback_gas']}")
    if s["proposed_nodes"]:
        console.print(f"proposed registry ({len(s['proposed_nodes']['nodes'])} nodes) due at {s['proposed_nodes']['eta']}")
    console.print(f"pending requests: {len(s['pending_requests'])}")
    for r in s["pending_requests"]:
        console.print(f"  #{r['request_id']} {r['kind']}, fee {r['fee']} wei, deadline in {r['deadline_in']} s: {r['prompt']!r}")
    for n in s["nodes"]:
        last = s["last_round"][n]
        console.print(f"  node {n}: " + (f"last round #{last['request_id']} {last['outcome']} (block {last['block']})" if last else "no round yet"))


def node_init(
    directory: Path = typer.Argument(..., help="where to write node.yaml and keystore.json"),
    rpc: list[str] = typer.Option(..., "--rpc", help="the chain's JSON-RPC URL (repeat for failover)"),
    oracle: Optional[str] = typer.Option(None, help="the AgentOracle address (default: ${CONCILIUM_ORACLE} at run time)"),
    chain_id: Optional[int] = typer.Option(None, help="refuse to run on any other chain"),
    confirmations: int = typer.Option(0, min=0, max=64, help="blocks a request waits before the node answers it"),
    host: str = typer.Option("127.0.0.1", help="peer endpoint address to listen on"),
    port: int = typer.Option(8700, min=1, max=65535, help="peer endpoint port"),
    peer: list[str] = typer.Option([], "--peer", help="another node's peer endpoint URL (repeat)"),
    model_url: Optional[str] = typer.Option(None, help="a running vLLM server (OpenAI API URL); default: serve the bundled model"),
    model_name: Optional[str] = typer.Option(None, help="the served model name at --model-url"),
    password_env: str = typer.Option("NODE_PASSWORD", help="environment variable holding the new keystore's password"),
) -> None:
    """Create a node key (keystore) and its node.yaml; prints the address to register."""
    import os

    import yaml
    from eth_account import Account

    from concilium.oracle.admin import addresses
    from concilium.oracle.config import NodeSpec
    from concilium.yamlfile import parse_yaml

    password = os.environ.get(password_env)
    if not password:
        fail(ConciliumError(f"set {password_env} to the password for the new keystore (or choose the variable with --password-env)"), 2)
    key_file, spec_file = directory / "keystore.json", directory / "node.yaml"
    for p in (key_file, spec_file):
        if p.exists():
            fail(ConciliumError(f"{p} exists; node init never overwrites a key or a node.yaml"), 2)
    try:
        oracle_ref = addresses([oracle])[0] if oracle else "${CONCILIUM_ORACLE}"
    except ConciliumError as e:
        fail(e, 2)
    chain: dict = {"rpc": rpc, "confirmations": confirmations, **({"chain_id": chain_id} if chain_id else {})}
    model = {"url": model_url, "name": model_name} if model_url else {"serve": "bundled"}
    rest = {"chain": chain, "model": model, "wallet": {"keystore": "./keystore.json", "password_env": password_env},
            "listen": {"host": host, "port": port}, "peers": list(peer)}
    text = f'version: 1\noracle: "{oracle_ref}"  # the AgentOracle\n' + yaml.safe_dump(rest, sort_keys=False)
    try:  # what we write must load (with a placeholder address when the oracle comes later)
        parse_yaml(text.replace("${CONCILIUM_ORACLE}", "0x" + "00" * 20), NodeSpec, str(spec_file), directory)
    except ConciliumError as e:
        fail(e, 2)
    account = Account.create()
    directory.mkdir(parents=True, exist_ok=True)
    key_file.write_text(json.dumps(Account.encrypt(account.key, password)))
    key_file.chmod(0o600)
    spec_file.write_text(text)
    console.print(f"node {account.address}: wrote {spec_file} and {key_file}")
    if not oracle:
        err.print("set CONCILIUM_ORACLE to the oracle's address before `concilium oracle node run`")
