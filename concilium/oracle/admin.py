"""What an operator does to an AgentOracle on any chain: deploy it, change its registry through
the timelock, read its state (registry, epoch, parameters, proposals, pending requests, each
node's last round). The `concilium oracle deploy|nodes|status` commands are thin wrappers.

`network.json` (written by deploy, read by every other command):
    {"rpc": ..., "chain_id": ..., "oracle": ..., "owner": ..., "deploy_block": ..., "nodes": [...]}
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_utils import is_address, to_checksum_address
from hexbytes import HexBytes

from concilium.chain.abi import artifact
from concilium.chain.client import ChainClient
from concilium.chain.deploy import deploy
from concilium.chain.wallets import Wallet
from concilium.errors import ConciliumError
from concilium.oracle.events import EVENTS, Limits, RequestClosed, RequestSeen, Unprocessable, decode_log
from concilium.oracle.params import OracleParams, fault_tolerance

STATUS_NAMES = ["none", "pending", "fulfilled", "unanswerable", "cancelled"]


@dataclass
class NetworkFile:
    rpc: str
    chain_id: int
    oracle: str
    owner: str
    deploy_block: int
    nodes: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> "NetworkFile":
        try:
            data = json.loads(Path(path).read_text())
            return cls(**{k: data[k] for k in ("rpc", "chain_id", "oracle", "owner", "deploy_block")}, nodes=data.get("nodes", []))
        except OSError:
            raise ConciliumError(f"{path} not found: deploy with `concilium oracle deploy`, or pass --network") from None
        except (ValueError, KeyError, TypeError) as e:
            raise ConciliumError(f"{path} is not a network.json written by `concilium oracle deploy` ({e})") from None


def addresses(values: list[str]) -> list[str]:
    bad = [v for v in values if not is_address(v)]
    if bad:
        raise ConciliumError(f"not an address: {', '.join(bad)}")
    return [to_checksum_address(v) for v in values]


def check_registry(nodes: list[str]) -> tuple[int, int]:
    if len(set(n.lower() for n in nodes)) != len(nodes):
        raise ConciliumError("a node appears twice in the registry")
    try:
        return fault_tolerance(len(nodes))
    except ValueError as e:
        raise ConciliumError(str(e)) from None


def oracle_contract(chain: ChainClient, address: str):
    return chain.contract(address, artifact("AgentOracle")["abi"])


async def deploy_oracle(chain: ChainClient, owner: Wallet, nodes: list[str], params: OracleParams, rpc: str,
                        fund_wei: int = 0, stake_wei: int = 0, unbonding: int | None = None) -> NetworkFile:
    """Deploy with the stake each node must put up (`stake_node`) before it signs, and the unbonding
    delay (default: the longest request timeout, the least the contract accepts)."""
    check_registry(nodes)
    unbonding = params.max_timeout if unbonding is None else unbonding
    if unbonding < params.max_timeout:
        raise ConciliumError(f"the unbonding delay ({unbonding} s) must be at least the longest timeout ({params.max_timeout} s)")
    address = await deploy(chain, owner, "AgentOracle", nodes, params.as_tuple(), stake_wei, unbonding)
    block = await chain.w3.eth.block_number
    for n in nodes if fund_wei else []:  # gas money for the nodes' fulfil transactions
        await chain.transact(owner, {"to": n, "value": fund_wei}, f"funding node {n}")
    return NetworkFile(rpc, await chain.chain_id(), address, owner.address, int(block), nodes)


async def stake_node(chain: ChainClient, node: Wallet, oracle: str) -> bool:
    """Put up the oracle's stake for this node key, unless it already has; True if it staked now."""
    c = oracle_contract(chain, oracle)
    if int((await c.functions.nodeInfo(node.address).call())[0]) != 0:
        return False
    amount = int(await c.functions.stakeAmount().call())
    await chain.transact(node, {"to": c.address, "data": c.encode_abi("stake", args=[]), "value": amount}, "staking the node")
    return True


@dataclass(frozen=True)
class Proposal:
    nodes: list[str]
    eta: int
    applied: bool


async def propose_nodes(chain: ChainClient, owner: Wallet, oracle: str, add: list[str] = (), remove: list[str] = ()) -> Proposal:
    """Propose the registry with `add` joined and `remove` left; applied at once when the delay is 0."""
    c = oracle_contract(chain, oracle)
    current = [to_checksum_address(a) for a in await c.functions.nodes().call()]
    missing = [a for a in remove if a not in current]
    if missing:
        raise ConciliumError(f"not in the registry: {', '.join(missing)}")
    already = [a for a in add if a in current]
    if already:
        raise ConciliumError(f"already in the registry: {', '.join(already)}")
    new = [a for a in current if a not in remove] + list(add)
    check_registry(new)
    receipt = await chain.transact(owner, {"to": c.address, "data": c.encode_abi("proposeNodes", args=[new])}, "proposing the registry")
    [ev] = c.events.NodesProposed().process_receipt(receipt)
    eta = int(ev["args"]["eta"])
    now = (await chain.w3.eth.get_block("latest"))["timestamp"]
    applied = False
    if eta <= now:
        await apply_nodes(chain, owner, oracle)
        applied = True
    return Proposal(new, eta, applied)


async def apply_nodes(chain: ChainClient, wallet: Wallet, oracle: str) -> int:
    """Anyone may apply a due proposal; returns the new epoch."""
    c = oracle_contract(chain, oracle)
    await chain.transact(wallet, {"to": c.address, "data": c.encode_abi("applyNodes", args=[])}, "applying the registry")
    return int(await c.functions.epoch().call())


async def status(chain: ChainClient, oracle: str, from_block: int = 0, max_range: int = 5000) -> dict:
    """The oracle's state, and from its events since `from_block`: pending requests and each
    node's last settled round (decoded as the nodes decode them: a bad event is counted, not fatal)."""
    c = oracle_contract(chain, oracle)
    f = c.functions
    nodes = [to_checksum_address(a) for a in await f.nodes().call()]
    pending_nodes, nodes_eta = await f.pendingNodes().call()
    pending_params, params_eta = await f.pendingParams().call()
    out = {"oracle": c.address, "chain_id": await chain.chain_id(), "owner": await f.owner().call(),
           "pending_owner": await f.pendingOwner().call(), "epoch": int(await f.epoch().call()),
           "f": int(await f.f().call()), "quorum": int(await f.quorum().call()), "nodes": nodes,
           "params": asdict(OracleParams.from_tuple(await f.params().call())),
           "proposed_nodes": {"nodes": list(pending_nodes), "eta": int(nodes_eta)} if nodes_eta else None,
           "proposed_params": {"params": asdict(OracleParams.from_tuple(pending_params)), "eta": int(params_eta)} if params_eta else None}
    head = await chain.w3.eth.block_number
    seen: dict[int, RequestSeen] = {}
    closed: set[int] = set()
    last: dict[str, dict] = {}
    undecodable = 0
    limits = Limits(2**64, 2**64, 2**64)
    topics = [HexBytes(c.events[n].topic).to_0x_hex() for n in EVENTS]
    for start in range(from_block, head + 1, max_range):
        logs = await chain.w3.eth.get_logs({"address": c.address, "fromBlock": start, "toBlock": min(head, start + max_range - 1),
                                            "topics": [topics]})
        for raw in logs:
            try:
                msg = decode_log(c, raw, limits)
            except Unprocessable:
                undecodable += 1
                continue
            if isinstance(msg, RequestSeen):
                seen[msg.request_id] = msg
            elif isinstance(msg, RequestClosed):
                closed.add(msg.request_id)
                for s in msg.signers:
                    last[s] = {"request_id": msg.request_id, "outcome": msg.outcome, "block": msg.ref.block, "tx": msg.ref.tx}
    if undecodable:
        out["undecodable_events"] = undecodable
    now = time.time()
    out["pending_requests"] = [
        {"request_id": r.request_id, "kind": r.kind.name.lower(), "deadline_in": int(r.deadline - now), "fee": r.fee,
         "prompt": r.prompt[:80]}
        for rid, r in sorted(seen.items()) if rid not in closed and int(await f.statusOf(rid).call()) == 1]
    out["last_round"] = {n: last.get(n) for n in nodes}
    return out
